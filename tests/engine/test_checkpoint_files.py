"""Damaged, foreign and wrong-model checkpoint files give one line naming the file and the fault."""
import os
import struct
import zipfile

import pytest
import torch
import torch.nn as nn

from ghostv2_mm.engine import (CheckpointError, check_fits, check_run_checkpoint,
                               checkpoint_damage, intact_checkpoints, load_checkpoint_file,
                               resolve_resume, state_dict_of)


def model():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))


def tensor_byte(path):
    """Offset of the first byte of the first tensor record in a torch.save zip archive."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if '/data/' in i.filename)
    with open(path, 'rb') as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_len, extra_len = struct.unpack('<HH', header[26:30])
    return info.header_offset + 30 + name_len + extra_len


@pytest.fixture
def good(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1, iter=4), state_dict=model().state_dict(), optimizer={},
                    message_hub={}), path)
    return path


@pytest.mark.parametrize('fault, message', [
    ('missing', 'does not exist'),
    ('empty', 'is empty'),
    ('truncated', 'is truncated or damaged'),
    ('flipped', 'fails its CRC check'),
    ('html', 'not a PyTorch checkpoint but text'),
    ('binary', 'is not a PyTorch checkpoint'),
    ('folder', 'is a folder'),
])
def test_damage_is_named(good, tmp_path, fault, message):
    data = good.read_bytes()
    path = tmp_path / 'bad.pth'
    if fault == 'empty':
        path.write_bytes(b'')
    elif fault == 'truncated':
        path.write_bytes(data[:len(data) // 2])
    elif fault == 'flipped':  # torch.load reads this file without complaint
        at = tensor_byte(good)
        path.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
        torch.load(path)
    elif fault == 'html':
        path.write_bytes(b'<!DOCTYPE html><html>Not Found</html>')
    elif fault == 'binary':
        path.write_bytes(bytes(range(7, 64)))
    elif fault == 'folder':
        path.mkdir()
    assert message in checkpoint_damage(str(path))
    with pytest.raises(CheckpointError, match=f'checkpoint {path} .*{message}') as info:
        load_checkpoint_file(str(path))
    assert '\n' not in str(info.value)


def test_intact_file(good):
    assert checkpoint_damage(str(good)) is None
    assert set(state_dict_of(load_checkpoint_file(str(good)), 'x')) == set(model().state_dict())


def test_foreign_and_wrong_model(tmp_path):
    foreign = tmp_path / 'foreign.pth'
    torch.save(['not', 'weights'], foreign)
    with pytest.raises(CheckpointError, match='holds no model weights'):
        state_dict_of(load_checkpoint_file(str(foreign)), str(foreign))
    other = nn.Linear(3, 3).state_dict()
    with pytest.raises(CheckpointError, match='has none of the 7 weights of Sequential'):
        check_fits(model(), other, 'other.pth')
    wider = nn.Sequential(nn.Conv2d(3, 16, 3), nn.BatchNorm2d(16)).state_dict()
    with pytest.raises(CheckpointError, match=r'0.weight is \(16, 3, 3, 3\) there and '
                                              r'\(8, 3, 3, 3\) in the model'):
        check_fits(model(), wider, 'wider.pth')
    # fine-tuning (load_from) accepts a checkpoint that fits most of the model
    partial = dict(model().state_dict())
    partial.pop('1.num_batches_tracked')
    check_fits(model(), partial, 'partial.pth', exact=False)
    with pytest.raises(CheckpointError, match='lacks 1 of the 7 weights'):
        check_fits(model(), partial, 'partial.pth')


def test_resume_needs_training_state_and_names_an_alternative(good, tmp_path):
    weights = tmp_path / 'epoch_2.pth'
    torch.save(dict(state_dict=model().state_dict()), weights)
    check_run_checkpoint(model(), str(weights))  # fine for testing
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
