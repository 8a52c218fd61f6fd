"""The YOLOv3 configs build through mmdet's registry and run loss and predict at 320, 416 and on
a non-square image."""
import glob
import os.path as osp

import pytest
import torch

pytest.importorskip('mmdet', reason='mmdet is installed by the "det" extra (tools/setup_env.sh)')

from mmdet.structures import DetDataSample  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from ghostv2_mm import GhostNetV2  # noqa: E402
from ghostv2_mm.apis import build_model  # noqa: E402
from tests.utils import randomize_bn  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'mmdet', '**', 'yolov3_*.py'),
                          recursive=True))


def batch(h, w, n=2, num_classes=80):
    inputs = [torch.randint(0, 255, (3, h, w), dtype=torch.uint8) for _ in range(n)]
    samples = []
    for _ in range(n):
        s = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.),
                                        pad_shape=(h, w), batch_input_shape=(h, w)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[10., 20., 100., 150.]]),
                                      labels=torch.tensor([1 % num_classes]))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds(config):
    model = build_model(config)
    assert type(model).__name__ == 'YOLOV3'
    backbone = model.backbone
    if isinstance(backbone, GhostNetV2):
        assert backbone.out_strides == [8, 16, 32]
        if backbone.deploy:  # weights from a deploy checkpoint
            assert backbone.init_cfg is None
        else:
            assert backbone.init_cfg['type'] == 'Pretrained'
            assert backbone.init_cfg['prefix'] == 'backbone.'
        assert list(reversed(backbone.out_channels)) == list(model.neck.in_channels)


@pytest.mark.parametrize('config, hw', [('yolov3_ghostv2_320.py', (320, 320)),
                                        ('yolov3_ghostv2_416.py', (416, 416)),
                                        ('yolov3_ghostv2_320.py', (256, 416))])
def test_loss_and_predict(config, hw):
    model = build_model(osp.join(ROOT, 'configs', 'mmdet', config))
    data = model.data_preprocessor(batch(*hw), training=True)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.conv_stem.weight.grad is not None
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch(*hw), training=False)
        results = model.predict(data['inputs'], data['data_samples'])
    assert len(results) == 2
    assert results[0].pred_instances.bboxes.shape[1] == 4


def test_deploy_backbone_in_a_detector():
    """A detector whose backbone is switched to deploy mode (channels-last features into mmdet's
    neck and head) predicts the same boxes."""
    model = randomize_bn(build_model(osp.join(ROOT, 'configs', 'mmdet', 'yolov3_ghostv2_320.py')))
    data = model.data_preprocessor(batch(320, 320), training=False)
    with torch.no_grad():
        expected = model(data['inputs'], mode='tensor')
        model.backbone.switch_to_deploy()
        actual = model(data['inputs'], mode='tensor')
    for a, e in zip(actual, expected):
        for x, y in zip(a, e):
            torch.testing.assert_close(x, y, rtol=0, atol=1e-4)
