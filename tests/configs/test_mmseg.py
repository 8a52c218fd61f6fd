"""The DeepLabV3 configs build through mmseg's registry; loss and predict at 512x512 and at an odd
size; output stride 8 (the decode head sees 64x64 at 512); whole and sliding-window inference."""
import glob
import os.path as osp

import pytest
import torch

pytest.importorskip('mmseg', reason='mmseg is installed by the "seg" extra (tools/setup_env.sh)')

from mmengine.structures import PixelData  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

from ghostv2_mm import GhostNetV2  # noqa: E402
from ghostv2_mm.apis import build_model  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'mmseg', '**', 'deeplabv3_*.py'),
                          recursive=True))
MAIN = osp.join(ROOT, 'configs', 'mmseg', 'deeplabv3_ghostv2_ade20k_512.py')
CPU = {'norm_cfg.type': 'BN', 'model.backbone.norm_cfg.type': 'BN',
       'model.decode_head.norm_cfg.type': 'BN', 'model.auxiliary_head.norm_cfg.type': 'BN'}


def batch(h, w, n=2, num_classes=150):
    inputs = [torch.randint(0, 255, (3, h, w), dtype=torch.uint8) for _ in range(n)]
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, h, w)))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds(config):
    model = build_model(config)
    assert type(model).__name__ == 'EncoderDecoder'
    if isinstance(model.backbone, GhostNetV2):
        assert model.backbone.output_stride == 8
        assert model.backbone.deploy or model.backbone.init_cfg['prefix'] == 'backbone.'
        assert model.decode_head.in_channels == model.backbone.out_channels[-1]


@pytest.mark.parametrize('hw', [(512, 512), (333, 411)])
def test_loss_predict_and_output_stride(hw):
    model = build_model(MAIN, dict(CPU, **{'model.data_preprocessor.size': hw}))
    data = model.data_preprocessor(batch(*hw), training=True)
    model.train()
    feats = model.extract_feat(data['inputs'])
    head_input = feats[model.decode_head.in_index].shape[-2:]
    assert head_input == ((hw[0] - 1) // 8 + 1, (hw[1] - 1) // 8 + 1)
    losses = model.loss(data['inputs'], data['data_samples'])
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    if hw == (512, 512):
        assert head_input == (64, 64)
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch(*hw), training=False)
        results = model.predict(data['inputs'], data['data_samples'])
    assert results[0].pred_sem_seg.data.shape == (1, *hw)


@pytest.mark.parametrize('mode', ['whole', 'slide'])
def test_whole_and_slide_inference_on_odd_sizes(mode):
    test_cfg = dict(mode=mode, crop_size=(128, 128), stride=(85, 85))
    model = build_model(MAIN, dict(CPU, **{'model.test_cfg': test_cfg,
                                           'model.decode_head.num_classes': 7,
                                           'model.auxiliary_head.num_classes': 7})).eval()
    with torch.no_grad():
        data = model.data_preprocessor(batch(203, 301, n=1, num_classes=7), training=False)
        results = model.predict(data['inputs'], data['data_samples'])
    assert results[0].pred_sem_seg.data.shape == (1, 203, 301)
    assert results[0].seg_logits.data.shape == (7, 203, 301)
