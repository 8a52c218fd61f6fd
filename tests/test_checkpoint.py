"""Checkpoints: damaged, foreign and wrong-model files give one line naming the file and the
fault; official/timm checkpoints convert to mmpretrain checkpoints that give the same logits; and
classifier checkpoints initialise backbones through ``init_cfg``."""
import os.path as osp
import struct
import subprocess
import sys
import zipfile

import pytest
import torch
import torch.nn as nn

from ghostv2_mm import GhostNetV2
from ghostv2_mm.apis import build_model
from ghostv2_mm.checkpoint import (check_fits, checkpoint_damage, convert_to_mmpretrain,
                                   infer_arch, load_checkpoint_file, load_weights, state_dict_of)
from ghostv2_mm.errors import CheckpointError, GhostV2Error
from tests.utils import randomize_bn

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONVERTER = osp.join(ROOT, 'tools', 'model_converters', 'ghostnetv2_to_mmpretrain.py')
CONFIGS = {1.0: 'ghostnetv2_1.0x_in1k.py', 1.3: 'ghostnetv2_1.3x_in1k.py',
           1.6: 'ghostnetv2_1.6x_in1k.py'}


@pytest.fixture
def timm():
    return pytest.importorskip('timm', reason='timm is installed by the "tests" extra '
                               '(tools/setup_env.sh)')


def model():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))


@pytest.fixture
def good(tmp_path):
    """A checkpoint of :func:`model` as mmengine's CheckpointHook writes it."""
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1, iter=4), state_dict=model().state_dict(), optimizer={},
                    message_hub={}), path)
    return path


def tensor_byte(path):
    """Offset of the first byte of the first tensor record in a torch.save zip archive."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if '/data/' in i.filename)
    with open(path, 'rb') as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_len, extra_len = struct.unpack('<HH', header[26:30])
    return info.header_offset + 30 + name_len + extra_len


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
    with pytest.raises(CheckpointError, match=f'checkpoint {foreign} holds no model weights'):
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
    check_fits(model(), partial, 'partial.pth', complete=False)
    with pytest.raises(CheckpointError, match='lacks 1 of the 7 weights'):
        check_fits(model(), partial, 'partial.pth')


def test_state_dict_unwrapping(good):
    state = model().state_dict()
    for checkpoint in (state, dict(model=state), dict(state_dict_ema=state, epoch=3),
                       dict(state_dict={f'module.{k}': v for k, v in state.items()})):
        assert list(state_dict_of(checkpoint, 'x')) == list(state)
    assert state_dict_of(torch.load(good))._metadata == state._metadata
    # fine-tuning: another head fits if most of the model does
    head = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(4, 5))
    other = dict(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(4, 3))
                 .state_dict())
    check_fits(head, other, 'cls.pth', complete=False, same_shapes=False)
    with pytest.raises(CheckpointError, match='fits only 1 of the 7 weights'):
        check_fits(model(), nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).state_dict(),
                   'narrow.pth', complete=False, same_shapes=False)


def test_load_weights(good, tmp_path):
    net = model()
    load_weights(net, str(good))
    assert torch.equal(net[0].weight, torch.load(good)['state_dict']['0.weight'])
    wider = tmp_path / 'wider.pth'
    torch.save(dict(state_dict=dict(model().state_dict(), extra=torch.zeros(1))), wider)
    with pytest.raises(RuntimeError, match='unexpected key in source state_dict: extra'):
        load_weights(model(), str(wider))
    load_weights(model(), str(wider), strict=False)
    (tmp_path / 'cut.pth').write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match='is truncated or damaged'):
        load_weights(model(), str(tmp_path / 'cut.pth'))
    assert issubclass(CheckpointError, (GhostV2Error, ValueError))


def reference(timm, name):
    return randomize_bn(timm.create_model(name, num_classes=1000))


@pytest.mark.parametrize('widen_factor, name, wrapped', [
    (1.0, 'ghostnetv2_100', True), (1.3, 'ghostnetv2_130', False), (1.6, 'ghostnetv2_160', True)])
def test_converted_checkpoint_gives_same_logits(timm, tmp_path, widen_factor, name, wrapped):
    ref = reference(timm, name)
    src = tmp_path / 'ck_ghostnetv2.pth.tar'
    state = ref.state_dict()
    torch.save(dict(state_dict=state, epoch=450) if wrapped else state, src)
    dst = tmp_path / 'converted.pth'
    result = subprocess.run([sys.executable, CONVERTER, str(src), str(dst), '--widen-factor',
                             str(widen_factor)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f'GhostNetV2 {widen_factor}x' in result.stdout

    model = build_model(osp.join(ROOT, 'configs', 'mmpretrain', CONFIGS[widen_factor])).eval()
    model.load_state_dict(torch.load(dst)['state_dict'], strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        diff = (model(x, mode='tensor') - ref(x)).abs().max().item()
    assert diff < 1e-4


def test_arch_is_inferred_for_v1_and_v2(timm):
    v2 = timm.create_model('ghostnetv2_130').state_dict()
    assert infer_arch(v2) == dict(widen_factor=1.3, dfc_layers=tuple(range(2, 16)))
    v1 = {k: v for k, v in timm.create_model('ghostnet_100').state_dict().items()}
    assert infer_arch(v1) == dict(widen_factor=1.0, dfc_layers=())


def test_module_prefix_is_stripped(timm):
    state = {f'module.{k}': v for k, v in timm.create_model('ghostnetv2_100').state_dict().items()}
    out = convert_to_mmpretrain(state)['state_dict']
    assert 'backbone.conv_stem.weight' in out and out['head.layers.0.fc.weight'].ndim == 2


def test_rejects_other_checkpoints(tmp_path):
    resnet = tmp_path / 'resnet.pth'
    torch.save(dict(state_dict={'conv1.weight': torch.zeros(64, 3, 7, 7)}), resnet)
    result = subprocess.run([sys.executable, CONVERTER, str(resnet), str(tmp_path / 'o.pth')],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert 'not an official/timm GhostNetV2 checkpoint' in result.stderr
    assert not (tmp_path / 'o.pth').exists()


def test_rejects_width_mismatch(timm):
    with pytest.raises(ValueError, match='widen_factor mismatch.*1.3x.*1.0x'):
        convert_to_mmpretrain(timm.create_model('ghostnetv2_130').state_dict(), widen_factor=1.0)


def test_pretrained_checkpoint_must_fit(tmp_path):
    ckpt = tmp_path / 'cls.pth'
    state = {f'backbone.{k}': v for k, v in GhostNetV2(1.3).state_dict().items()}
    torch.save(dict(state_dict=state), ckpt)
    model = GhostNetV2(1.0, init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                                          prefix='backbone.'))
    with pytest.raises(CheckpointError, match=rf'init_cfg checkpoint {ckpt} does not fit '
                                              r'GhostNetV2\(widen_factor=1.0\).*another width'):
        model.init_weights()
    wrong_prefix = GhostNetV2(1.3, init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                                                 prefix='model'))
    with pytest.raises(CheckpointError, match=r"none of the \d+ weights of GhostNetV2\("
                                              r"widen_factor=1.3\) under prefix 'model.'"):
        wrong_prefix.init_weights()
    torch.save(['not', 'weights'], ckpt)
    with pytest.raises(CheckpointError, match=f'init_cfg checkpoint {ckpt} holds no model'):
        model.init_weights()
    missing = GhostNetV2(1.0, init_cfg=dict(type='Pretrained',
                                            checkpoint='checkpoints/none_in1k.pth'))
    with pytest.raises(CheckpointError, match='does not exist: make it .*ck_ghostnetv2_10.* or '
                                              'point elsewhere with model.backbone.init_cfg'):
        missing.init_weights()
