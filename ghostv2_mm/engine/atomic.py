"""Atomic file writes: a kill at any moment leaves the old file or the new one under the final
name, never a part of one (docs/faults.md). ``GHOSTV2_MM_SLOW_WRITE=SECONDS`` pauses every write
half-way, so that tools/misc/fault_test.py can kill inside one."""
import errno
import glob
import io
import os
import os.path as osp
import shutil
import time

from ..errors import DiskFullError

PARTIAL_SUFFIX = '.partial'
SLOW_WRITE_ENV = 'GHOSTV2_MM_SLOW_WRITE'


def atomic_write(data, path):
    """Write ``data`` (bytes, or str as UTF-8) to ``path`` through ``<path>.partial``, fsynced and
    renamed into place; raises ``DiskFullError`` for lack of space or a file size limit."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = path + PARTIAL_SUFFIX
    delay = float(os.environ.get(SLOW_WRITE_ENV, 0) or 0)
    try:
        with open(partial, 'wb') as f:
            half = len(data) // 2
            f.write(data[:half])
            if delay:
                f.flush()
                time.sleep(delay)
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if osp.exists(partial):
            os.remove(partial)
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        raise DiskFullError(
            f'cannot write {path}: {e.strerror} (it needs {len(data)} bytes; '
            f'{shutil.disk_usage(folder).free} bytes are free on its file system); '
            'the file it would replace is unchanged') from None
    os.replace(partial, path)
    _fsync_folder(folder)  # so that the rename survives a power cut


def atomic_torch_save(obj, path):
    """``torch.save(obj, path)`` through :func:`atomic_write`."""
    import torch
    with io.BytesIO() as buffer:
        torch.save(obj, buffer)
        atomic_write(buffer.getvalue(), path)


def remove_partial_files(folder):
    """Remove the ``*.partial`` files a killed writer left in ``folder``; returns their names."""
    removed = sorted(glob.glob(osp.join(glob.escape(folder), '*' + PARTIAL_SUFFIX)))
    for path in removed:
        os.remove(path)
    return removed


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # folders cannot be opened on Windows; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
