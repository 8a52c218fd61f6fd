import json
import os
import os.path as osp
import subprocess
import sys

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


def scalars(work_dir):
    """All logged records of the newest run in ``work_dir``: ``vis_data/scalars.json`` of a
    training run, ``<timestamp>.json`` of a test run."""
    runs = sorted(d for d in os.listdir(work_dir) if osp.exists(osp.join(work_dir, d, f'{d}.log')))
    run = osp.join(work_dir, runs[-1])
    path = osp.join(run, 'vis_data', 'scalars.json')
    if not osp.exists(path):
        path = osp.join(run, f'{runs[-1]}.json')
    with open(path) as f:
        return [json.loads(line) for line in f]


def cli(work_dir, settings):
    """``--work-dir`` and ``--cfg-options`` arguments for a dict of config overrides."""
    return ['--work-dir', str(work_dir), '--cfg-options',
            *[f'{k}={v}' for k, v in settings.items()]]
