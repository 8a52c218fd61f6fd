import os

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (``CI`` set, as .ci/run runs after tools/setup_env.sh), a test skipped because
    something is not installed fails instead: the set-up installs every extra and converter, so
    such a skip would hide a broken install step. Other skips (no CUDA fault on a GPU machine),
    and the LiteRT converter's where the set-up was told to leave it out, stay skips."""
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and os.environ.get('CI', '').lower() in ('1', 'true', 'yes')):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    opted_out = 'onnx2tf' in reason and os.environ.get('GHOSTV2_MM_LITERT_CONVERTER') == '0'
    if ('install' in reason or 'could not import' in reason) and not opted_out:
        report.outcome = 'failed'
        report.longrepr = f'skipped under CI, where tools/setup_env.sh has run: {reason}'
