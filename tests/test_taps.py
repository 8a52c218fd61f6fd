"""A backbone's taps that do not fit the neck's (or a segmentor's heads') in_channels are refused
when the model is built, naming both lists; necks that read the outputs deepest first (YOLOv3)
and segmentors' heads (in_index) are checked too."""
import os.path as osp

import pytest

from ghostv2_mm.apis import build_model
from ghostv2_mm.errors import ConfigError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
MMDET = 'mmdet is installed by the "det" extra (tools/setup_env.sh)'
MMSEG = 'mmseg is installed by the "seg" extra (tools/setup_env.sh)'


def config(path):
    return osp.join(ROOT, 'configs', path)


def test_rtmdet_neck_reading_other_taps():
    pytest.importorskip('mmdet', reason=MMDET)
    with pytest.raises(ConfigError) as error:
        build_model(config('mmdet/rtmdet_tiny_ghostv2_640.py'),
                    {'model.backbone.out_indices': (4, 6, 9)})
    message = str(error.value)
    assert 'model.neck.in_channels [40, 112, 160] does not match' in message
    assert 'out_indices (4, 6, 9) -> out_channels [40, 112, 960]' in message
    assert '\n' not in message


def test_yolov3_neck_reads_the_deepest_first():
    pytest.importorskip('mmdet', reason=MMDET)
    with pytest.raises(ConfigError, match=r'must be \[960, 112, 40\] \(deepest first'):
        build_model(config('mmdet/yolov3_ghostv2_320.py'),
                    {'model.neck.in_channels': [40, 112, 960]})


def test_segmentor_head_reading_another_tap():
    pytest.importorskip('mmseg', reason=MMSEG)
    with pytest.raises(ConfigError, match=r'model.decode_head.in_channels \[112\] .* must be '
                                          r'\[160\]'):
        build_model(config('mmseg/deeplabv3_ghostv2_ade20k_512.py'),
                    {'model.decode_head.in_channels': 112})


def test_matching_taps_build():
    pytest.importorskip('mmdet', reason=MMDET)
    model = build_model(config('mmdet/rtmdet_tiny_ghostv2_640.py'),
                        {'model.backbone.out_indices': (4, 6, 9),
                         'model.neck.in_channels': [40, 112, 960]})
    assert model.backbone.out_channels == [40, 112, 960]
