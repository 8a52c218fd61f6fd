"""Official/timm checkpoints convert to mmpretrain checkpoints that give the same logits, and
classifier checkpoints initialise backbones through ``init_cfg``."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from ghostv2_mm import GhostNetV2
from ghostv2_mm.checkpoint import convert_to_mmpretrain, infer_arch
from ghostv2_mm.apis import build_model
from tests.utils import randomize_bn

timm = pytest.importorskip('timm', reason='timm is installed by the "tests" extra (tools/setup_env.sh)')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONVERTER = osp.join(ROOT, 'tools', 'model_converters', 'ghostnetv2_to_mmpretrain.py')
CONFIGS = {1.0: 'ghostnetv2_1.0x_in1k.py', 1.3: 'ghostnetv2_1.3x_in1k.py',
           1.6: 'ghostnetv2_1.6x_in1k.py'}


def reference(name):
    return randomize_bn(timm.create_model(name, num_classes=1000))


@pytest.mark.parametrize('widen_factor, name, wrapped', [
    (1.0, 'ghostnetv2_100', True), (1.3, 'ghostnetv2_130', False), (1.6, 'ghostnetv2_160', True)])
def test_converted_checkpoint_gives_same_logits(tmp_path, widen_factor, name, wrapped):
    ref = reference(name)
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


def test_arch_is_inferred_for_v1_and_v2():
    v2 = timm.create_model('ghostnetv2_130').state_dict()
    assert infer_arch(v2) == dict(widen_factor=1.3, dfc_layers=tuple(range(2, 16)))
    v1 = {k: v for k, v in timm.create_model('ghostnet_100').state_dict().items()}
    assert infer_arch(v1) == dict(widen_factor=1.0, dfc_layers=())


def test_module_prefix_is_stripped():
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


def test_rejects_width_mismatch():
    with pytest.raises(ValueError, match='widen_factor mismatch.*1.3x.*1.0x'):
        convert_to_mmpretrain(timm.create_model('ghostnetv2_130').state_dict(), widen_factor=1.0)


def test_pretrained_width_mismatch_is_an_error(tmp_path):
    ckpt = tmp_path / 'cls.pth'
    state = {f'backbone.{k}': v for k, v in GhostNetV2(1.3).state_dict().items()}
    torch.save(dict(state_dict=state), ckpt)
    model = GhostNetV2(1.0, init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                                          prefix='backbone.'))
    with pytest.raises(ValueError, match='another width'):
        model.init_weights()
    wrong_prefix = GhostNetV2(1.3, init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                                                 prefix='model.'))
    with pytest.raises(ValueError, match='no GhostNetV2 weights'):
        wrong_prefix.init_weights()
