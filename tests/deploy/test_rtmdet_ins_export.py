"""RTMDet-Ins exports on a CPU-only machine (mmdeploy's mask decoder asks for its point grid on
CUDA; ghostv2_mm/deploy/rewriters.py builds it on the CPU) and its ONNX Runtime file gives
PyTorch's instances."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hub import get_config

from ghostv2_mm.apis import build_model
from ghostv2_mm.deploy.backends import build_task_processor
from ghostv2_mm.deploy.convert import export, predict
from tests.utils import randomize_bn

DEPLOY = 'configs/mmdeploy/instance-seg-rtmdet-ins_onnxruntime_static-640x640.py'


@pytest.mark.skipif(torch.cuda.is_available(), reason='the fault needs a machine without CUDA')
def test_rtmdet_ins_exports_without_cuda_and_matches_pytorch(tmp_path):
    cfg = get_config('mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py')
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = build_model(cfg)
    randomize_bn(model)
    for conv in model.bbox_head.rtm_cls:  # scores around 0.5: instances survive score > 0.05
        conv.bias.data.zero_()
    ckpt, img = str(tmp_path / 'random.pth'), str(tmp_path / 'image.png')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    cv2.imwrite(img, np.random.RandomState(0).randint(0, 255, (320, 320, 3), dtype=np.uint8))
    deploy_cfg = Config.fromfile(DEPLOY)
    deploy_cfg.onnx_config.input_shape = [320, 320]
    onnx_file = export(img, str(tmp_path), deploy_cfg, cfg, ckpt)

    processor, deploy_cfg, cfg = build_task_processor(cfg, deploy_cfg)
    expected = predict(processor, processor.build_pytorch_model(ckpt), img).pred_instances
    found = predict(processor, processor.build_backend_model([onnx_file]), img).pred_instances
    assert len(expected) > 10
    assert len(found) == len(expected)
    # A deployed instance is one of PyTorch's when label and score agree, the box within 0.01 px
    # and the mask but for pixels at the 0.5 threshold. Random weights give many near-equal
    # boxes, so instances of equal score may swap places and the last ones kept may differ
    # where an IoU sits at the NMS threshold: all of the 50 best must match, 95% of all.
    matched = []
    for k in range(len(found)):
        match = (found.labels[k] == expected.labels) & \
            ((found.scores[k] - expected.scores).abs() < 1e-4) & \
            ((found.bboxes[k] - expected.bboxes).abs().max(1).values < 1e-2)
        matched.append(any((found.masks[k] != expected.masks[j]).float().mean() < 1e-3
                           for j in match.nonzero()[:, 0].tolist()))
    assert all(matched[:50]), matched.index(False)
    assert sum(matched) >= 0.95 * len(found)
