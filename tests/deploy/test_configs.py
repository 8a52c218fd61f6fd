"""configs/mmdeploy/: mmdeploy's naming ({task}[-{model}]_{backend}_{static|dynamic}[-HxW])
matches what each config sets, and the detectors' post-processing is their model configs'
test_cfg."""
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEPLOY_CFGS = sorted(glob.glob(osp.join(ROOT, 'configs/mmdeploy/*.py')))
DETECTORS = sorted(glob.glob(osp.join(ROOT, 'configs/mmdet/yolov3_*.py')))
NAME = re.compile(r'(detection|segmentation|classification|instance-seg)(?:-[a-z0-9-]+)?_'
                  r'(onnxruntime|openvino|ncnn|litert)_(static|dynamic)(?:-(\d+)x(\d+))?\.py$')
# Backends whose files fix every size: static configs only.
STATIC_ONLY = ('ncnn', 'litert')
CODEBASES = {'detection': 'mmdet', 'segmentation': 'mmseg', 'classification': 'mmpretrain',
             'instance-seg': 'mmdet'}


def test_configs_found():
    assert len(DEPLOY_CFGS) >= 10 and DETECTORS


@pytest.mark.parametrize('path', DEPLOY_CFGS, ids=osp.basename)
def test_name_matches_content(path):
    match = NAME.match(osp.basename(path))
    assert match, f'{osp.basename(path)} does not follow mmdeploy naming'
    task, backend, kind, h, w = match.groups()
    cfg = Config.fromfile(path)
    assert cfg.codebase_config.type == CODEBASES[task]
    assert cfg.backend_config.type == backend
    assert cfg.onnx_config.save_file == 'end2end.onnx'
    dynamic = 'dynamic_axes' in cfg.onnx_config
    assert dynamic == (kind == 'dynamic')
    assert not (dynamic and backend in STATIC_ONLY)
    if h:  # mmdeploy's input_shape is (W, H)
        assert cfg.onnx_config.input_shape == [int(w), int(h)]
        if backend == 'openvino':
            assert cfg.backend_config.model_inputs[0].opt_shapes.input == [1, 3, int(h), int(w)]
    else:
        assert cfg.onnx_config.input_shape is None
    if backend in ('openvino', ) + STATIC_ONLY:
        assert cfg.backend_config.precision == 'fp32'


@pytest.mark.parametrize('model_cfg', DETECTORS, ids=osp.basename)
def test_detection_post_processing_is_test_cfg(model_cfg):
    test_cfg = Config.fromfile(model_cfg).model.test_cfg
    for path in DEPLOY_CFGS:
        if osp.basename(path).startswith('detection_'):
            post = Config.fromfile(path).codebase_config.post_processing
            assert (post.score_threshold, post.confidence_threshold, post.iou_threshold,
                    post.pre_top_k, post.keep_top_k) == \
                (test_cfg.score_thr, test_cfg.conf_thr, test_cfg.nms.iou_threshold,
                 test_cfg.nms_pre, test_cfg.max_per_img), osp.basename(path)


# Deploy-config prefix -> the model configs whose test_cfg its post-processing carries.
FAMILIES = {
    'detection-rtmdet_': ('configs/mmdet/rtmdet_tiny_ghostv2_640.py',
                          'configs/mmdet/rtmdet_tiny_ghostv2_shapes.py'),
    'detection-ssdlite_': ('configs/mmdet/ssdlite_ghostv2_320.py',
                           'configs/mmdet/ssdlite_ghostv2-scratch_320.py',
                           'configs/mmdet/ssdlite_ghostv2_shapes.py'),
    'instance-seg-rtmdet-ins_': ('configs/mmdet/rtmdet-ins_tiny_ghostv2_640.py',
                                 'configs/mmdet/rtmdet-ins_tiny_ghostv2_shapes.py'),
}


@pytest.mark.parametrize('prefix', list(FAMILIES))
def test_light_head_post_processing_is_test_cfg(prefix):
    paths = [p for p in DEPLOY_CFGS if osp.basename(p).startswith(prefix)]
    # ONNX Runtime and OpenVINO, at the model's size and (but SSDLite: the same) the shapes model's
    assert len(paths) >= (2 if prefix == 'detection-ssdlite_' else 4), prefix
    for model_cfg in FAMILIES[prefix]:
        test_cfg = Config.fromfile(osp.join(ROOT, model_cfg)).model.test_cfg
        for path in paths:
            post = Config.fromfile(path).codebase_config.post_processing
            assert (post.score_threshold, post.iou_threshold, post.pre_top_k,
                    post.keep_top_k) == \
                (test_cfg.score_thr, test_cfg.nms.iou_threshold, test_cfg.nms_pre,
                 test_cfg.max_per_img), (osp.basename(path), model_cfg)
            assert post.get('mask_thr_binary') == test_cfg.get('mask_thr_binary')


def test_lraspp_graph_ends_at_logits():
    """LRASPP's images are resized: its deploy configs end the graph at the logits, which the
    backend model resizes before the arg-max (tests/deploy/test_dense_head_postprocess.py)."""
    paths = [p for p in DEPLOY_CFGS if osp.basename(p).startswith('segmentation-lraspp_')]
    assert len(paths) >= 4
    align_corners = Config.fromfile(
        osp.join(ROOT, 'configs/mmseg/lraspp_ghostv2_cityscapes_512x1024.py')
    ).model.decode_head.align_corners
    for path in paths:
        codebase = Config.fromfile(path).codebase_config
        assert (codebase.with_argmax, codebase.model_type, codebase.align_corners) == \
            (False, 'end2end_logits', align_corners)
