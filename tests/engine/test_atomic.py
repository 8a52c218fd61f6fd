"""A kill in the middle of an atomic write leaves the previous file under the final name."""
import os
import signal
import subprocess
import sys
import time

from ghostv2_mm.engine.atomic import (PARTIAL_SUFFIX, SLOW_WRITE_ENV, atomic_torch_save,
                                      atomic_write, remove_partial_files)


def test_write_replaces_the_file(tmp_path):
    path = tmp_path / 'sub' / 'last_checkpoint'
    atomic_write('first', path)
    atomic_write(b'second', path)
    assert path.read_text() == 'second'
    assert os.listdir(tmp_path / 'sub') == ['last_checkpoint']


def test_killed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    atomic_write(b'old' * 100, path)
    code = ('import sys; from ghostv2_mm.engine.atomic import atomic_write; '
            'atomic_write(b"new" * 100, sys.argv[1])')
    proc = subprocess.Popen([sys.executable, '-c', code, str(path)],
                            env=dict(os.environ, **{SLOW_WRITE_ENV: '30'}))
    partial = tmp_path / ('epoch_1.pth' + PARTIAL_SUFFIX)
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial.stat().st_size == 150  # half written when it was killed
    assert path.read_bytes() == b'old' * 100
    assert remove_partial_files(str(tmp_path)) == [str(partial)]
    assert os.listdir(tmp_path) == ['epoch_1.pth']


def test_torch_save(tmp_path):
    import torch
    atomic_torch_save({'w': torch.arange(3)}, tmp_path / 'w.pth')
    assert torch.equal(torch.load(tmp_path / 'w.pth')['w'], torch.arange(3))
