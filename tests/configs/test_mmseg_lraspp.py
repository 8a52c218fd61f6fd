"""The LRASPP configs build through mmseg's registry with the dilated GhostNetV2 (output stride 8)
feeding mmseg's LRASPP head with MobileNetV3's channels, train 320k iterations, run loss and
predict at the smallest size the head takes, and name that size for a smaller input."""
import glob
import os.path as osp

import pytest
import torch

pytest.importorskip('mmseg', reason='mmseg is installed by the "seg" extra (tools/setup_env.sh)')

from mmengine.config import Config  # noqa: E402

from ghostv2_mm import GhostNetV2  # noqa: E402
from ghostv2_mm.apis import build_model  # noqa: E402
from ghostv2_mm.errors import ConfigError  # noqa: E402

from .test_mmseg import batch  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'mmseg', '**', 'lraspp_*.py'),
                           recursive=True))
MAIN = osp.join(ROOT, 'configs', 'mmseg', 'lraspp_ghostv2_cityscapes_512x1024.py')
CPU = {'norm_cfg.type': 'BN', 'model.backbone.norm_cfg.type': 'BN',
       'model.decode_head.norm_cfg.type': 'BN'}


def test_configs_found():
    names = {osp.basename(c) for c in CONFIGS}
    assert {'lraspp_ghostv2_cityscapes_512x1024.py', 'lraspp_ghostv2_shapes.py'} <= names


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds(config):
    model = build_model(config)
    assert type(model).__name__ == 'EncoderDecoder'
    assert type(model.decode_head).__name__ == 'SizeCheckedLRASPPHead'
    assert isinstance(model.backbone, GhostNetV2)
    assert model.backbone.output_stride == 8
    assert model.backbone.out_strides == [2, 4, 8]
    assert model.backbone.out_channels == list(model.decode_head.in_channels) == [16, 24, 960]
    assert model.backbone.init_cfg['type'] == 'Pretrained'
    assert model.backbone.init_cfg['prefix'] == 'backbone.'


def test_schedule_is_320k():
    """mmseg 1.x's "320k" base trains 160k iterations; the published 69.54 mIoU is a 320k run."""
    cfg = Config.fromfile(MAIN)
    assert cfg.train_cfg.max_iters == 320000
    assert [s['end'] for s in cfg.param_scheduler] == [320000]
    assert cfg.train_dataloader.batch_size == 4 and cfg.crop_size == (512, 1024)


@pytest.mark.parametrize('hw', [(385, 385), (512, 1024)])
def test_loss_and_predict(hw):
    model = build_model(MAIN, dict(CPU, **{'model.data_preprocessor.size': hw}))
    data = model.data_preprocessor(batch(*hw, num_classes=19), training=True)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch(*hw, n=1, num_classes=19), training=False)
        results = model.predict(data['inputs'], data['data_samples'])
    assert results[0].pred_sem_seg.data.shape == (1, *hw)


@pytest.mark.parametrize('hw', [(384, 600), (320, 320)])
def test_too_small_input_names_the_minimum(hw):
    model = build_model(MAIN, CPU).eval()
    assert model.decode_head.min_input_size == 385
    with torch.no_grad(), pytest.raises(ConfigError, match='at least 385 px on each side') as e:
        model(torch.zeros(1, 3, *hw), mode='tensor')
    assert f'{(hw[0] - 1) // 8 + 1}x{(hw[1] - 1) // 8 + 1} feature map' in str(e.value)
