"""The RTMDet-tiny and RTMDet-Ins-tiny configs build through mmdet's registry with GhostNetV2's
taps feeding CSPNeXt-PAFPN, and run loss and predict (boxes, and masks for RTMDet-Ins)."""
import glob
import os.path as osp

import pytest
import torch

pytest.importorskip('mmdet', reason='mmdet is installed by the "det" extra (tools/setup_env.sh)')

from ghostv2_mm import GhostNetV2  # noqa: E402
from ghostv2_mm.apis import build_model  # noqa: E402

from .test_mmdet import batch  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'mmdet', '**', 'rtmdet*.py'),
                           recursive=True))


def test_configs_found():
    names = {osp.basename(c) for c in CONFIGS}
    assert {'rtmdet_tiny_ghostv2_640.py', 'rtmdet-ins_tiny_ghostv2_640.py'} <= names


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds(config):
    model = build_model(config)
    instance = 'rtmdet-ins' in osp.basename(config)
    assert type(model).__name__ == 'RTMDet'
    assert type(model.bbox_head).__name__ == ('RTMDetInsSepBNHead' if instance else
                                              'RTMDetSepBNHead')
    assert isinstance(model.backbone, GhostNetV2)
    assert model.backbone.out_indices == (4, 6, 8)
    assert model.backbone.out_strides == [8, 16, 32]
    assert list(model.neck.in_channels) == model.backbone.out_channels == [40, 112, 160]
    assert model.backbone.init_cfg['type'] == 'Pretrained'
    assert model.backbone.init_cfg['prefix'] == 'backbone.'
    # The classifier's normalisation (RGB, ImageNet mean/std), not CSPNeXt's BGR one.
    assert model.data_preprocessor._channel_conversion


@pytest.mark.parametrize('config', ['rtmdet_tiny_ghostv2_640.py', 'rtmdet-ins_tiny_ghostv2_640.py'])
def test_loss_and_predict(config):
    model = build_model(osp.join(ROOT, 'configs', 'mmdet', config),
                        {'model.backbone.init_cfg': None})
    instance = config.startswith('rtmdet-ins')
    data = batch(320, 320)
    if instance:
        from mmdet.structures.mask import BitmapMasks
        for s in data['data_samples']:
            mask = torch.zeros(1, 320, 320, dtype=torch.uint8)
            mask[:, 20:150, 10:100] = 1
            s.gt_instances.masks = BitmapMasks(mask.numpy(), 320, 320)
    data = model.data_preprocessor(data, training=True)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert ('loss_mask' in losses) == instance
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
    assert ('masks' in results[0].pred_instances) == instance
