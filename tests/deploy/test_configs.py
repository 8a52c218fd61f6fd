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
                  r'(onnxruntime|openvino)_(static|dynamic)(?:-(\d+)x(\d+))?\.py$')
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
    if h:  # mmdeploy's input_shape is (W, H)
        assert cfg.onnx_config.input_shape == [int(w), int(h)]
        if backend == 'openvino':
            assert cfg.backend_config.model_inputs[0].opt_shapes.input == [1, 3, int(h), int(w)]
    else:
        assert cfg.onnx_config.input_shape is None
    if backend == 'openvino':
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


def test_rtmdet_ins_post_processing_is_its_test_cfg():
    from mmengine.hub import get_config
    test_cfg = get_config('mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py').model.test_cfg
    for path in DEPLOY_CFGS:
        if osp.basename(path).startswith('instance-seg-rtmdet-ins_'):
            post = Config.fromfile(path).codebase_config.post_processing
            assert (post.score_threshold, post.iou_threshold, post.pre_top_k, post.keep_top_k,
                    post.mask_thr_binary) == \
                (test_cfg.score_thr, test_cfg.nms.iou_threshold, test_cfg.nms_pre,
                 test_cfg.max_per_img, test_cfg.mask_thr_binary), osp.basename(path)
