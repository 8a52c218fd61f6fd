import os
import os.path as osp
import subprocess
import sys

# The reader tools/quickstart.py uses.
from ghostv2_mm.engine.run_records import run_records as scalars  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run_tool(*args, env=None, check=True, timeout=900):
    """Run ``python tools/...`` (or another command when args[0] is an executable) from the
    repository root and return the CompletedProcess."""
    cmd = list(args) if osp.basename(args[0]) in ('bash', 'mim') else \
        [sys.executable, *args]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            env=dict(os.environ, PYTHON=sys.executable, **(env or {})))
    if check and result.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} failed:\n{result.stdout[-3000:]}\n'
                             f'{result.stderr[-6000:]}')
    return result


def cli(work_dir, settings):
    """``--work-dir`` and ``--cfg-options`` arguments for a dict of config overrides."""
    return ['--work-dir', str(work_dir), '--cfg-options',
            *[f'{k}={v}' for k, v in settings.items()]]
