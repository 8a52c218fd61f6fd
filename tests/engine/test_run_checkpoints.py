"""A run's checkpoints: which are intact, which one ``--resume`` takes, and whether the file a
run loads is an intact checkpoint of its model; errors name the newest intact checkpoint."""
import os

import pytest
import torch

from ghostv2_mm.engine import check_run_checkpoint, intact_checkpoints, resolve_resume
from ghostv2_mm.errors import CheckpointError
from tests.test_checkpoint import model


def test_resume_needs_training_state_and_names_an_alternative(good, tmp_path):
    weights = tmp_path / 'epoch_2.pth'
    torch.save(dict(state_dict=model().state_dict()), weights)
    check_run_checkpoint(model(), str(weights))  # fine for testing
    with pytest.raises(CheckpointError, match=f'checkpoint {weights} fits only 0 of the 2 '):
        check_run_checkpoint(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), str(weights),
                             exact=False)
    with pytest.raises(CheckpointError, match=f'cannot be resumed.*no epoch, iter, optimizer, '
                                              f'message_hub.*newest intact checkpoint in '
                                              f'{tmp_path} is {good}'):
        check_run_checkpoint(model(), str(weights), resume=True, work_dir=str(tmp_path))


def test_resolve_resume(good, tmp_path):
    assert resolve_resume(str(tmp_path)) is None  # no last_checkpoint: a fresh start
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text(str(good))
    assert resolve_resume(str(tmp_path)) == str(good)
    newer = tmp_path / 'epoch_2.pth'
    newer.write_bytes(good.read_bytes()[:100])
    pointer.write_text(str(newer))
    with pytest.raises(CheckpointError, match=f'names {newer}, which is truncated.*newest intact '
                                              f'checkpoint in {tmp_path} is {good}: resume with '
                                              f'--resume {good}'):
        resolve_resume(str(tmp_path))
    pointer.write_text('')
    with pytest.raises(CheckpointError, match='is empty'):
        resolve_resume(str(tmp_path))


def test_intact_checkpoints_newest_first(good, tmp_path):
    for step in (2, 10):
        (tmp_path / f'epoch_{step}.pth').write_bytes(good.read_bytes())
    (tmp_path / 'epoch_11.pth').write_bytes(b'')
    (tmp_path / 'epoch_12.pth.partial').write_bytes(good.read_bytes())
    assert [os.path.basename(p) for p in intact_checkpoints(str(tmp_path))] == \
        ['epoch_10.pth', 'epoch_2.pth', 'epoch_1.pth']
