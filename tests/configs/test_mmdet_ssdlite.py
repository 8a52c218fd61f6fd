"""The SSDLite configs build through mmdet's registry with GhostNetV2's stride-16/32 taps feeding
mmdet's SSDLite neck, ImageNet-initialised and from scratch, and run loss and predict at 320."""
import glob
import os.path as osp

import pytest
import torch

pytest.importorskip('mmdet', reason='mmdet is installed by the "det" extra (tools/setup_env.sh)')

from ghostv2_mm import GhostNetV2  # noqa: E402
from ghostv2_mm.apis import build_model  # noqa: E402

from .test_mmdet import batch  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'mmdet', '**', 'ssdlite*.py'),
                           recursive=True))


def test_configs_found():
    names = {osp.basename(c) for c in CONFIGS}
    assert {'ssdlite_ghostv2_320.py', 'ssdlite_ghostv2-scratch_320.py',
            'ssdlite_ghostv2_shapes.py'} <= names


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds(config):
    model = build_model(config)
    assert type(model).__name__ == 'SingleStageDetector'
    assert type(model.bbox_head).__name__ == 'PredictableSSDHead'
    assert isinstance(model.backbone, GhostNetV2)
    assert model.backbone.out_strides == [16, 32]
    assert model.backbone.out_channels == [112, 960]
    assert list(model.bbox_head.in_channels[:2]) == model.backbone.out_channels
    init_cfg = model.backbone.init_cfg
    if 'scratch' in osp.basename(config):
        # The package's default initialisation and the recipe's BN, as mmdet's baseline.
        assert not isinstance(init_cfg, dict) or init_cfg.get('type') != 'Pretrained'
        bn = model.backbone.bn1
        assert (bn.eps, bn.momentum) == (0.001, 0.03)
    else:
        assert init_cfg['type'] == 'Pretrained' and init_cfg['prefix'] == 'backbone.'
        assert model.backbone.bn1.eps == 1e-5


def test_schedule_is_mmdets():
    """600 epochs (120 of a RepeatDataset x5) at batch 192, and mmdet's SSD post-processing."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mmdet', 'ssdlite_ghostv2_320.py'))
    assert cfg.train_cfg.max_epochs == 120 and cfg.train_dataloader.dataset.times == 5
    assert cfg.train_dataloader.batch_size == 24 and cfg.auto_scale_lr.base_batch_size == 192
    assert cfg.model.test_cfg.score_thr == 0.02 and cfg.model.test_cfg.max_per_img == 200


@pytest.mark.parametrize('config', ['ssdlite_ghostv2_320.py', 'ssdlite_ghostv2-scratch_320.py'])
def test_loss_and_predict(config):
    model = build_model(osp.join(ROOT, 'configs', 'mmdet', config))
    data = model.data_preprocessor(batch(320, 320), training=True)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.conv_stem.weight.grad is not None
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch(320, 320), training=False)
        results = model.predict(data['inputs'], data['data_samples'])
    assert len(results) == 2
    assert results[0].pred_instances.bboxes.shape[1] == 4
