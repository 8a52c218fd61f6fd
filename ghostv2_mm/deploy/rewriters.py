"""Graph rewriters for mmdeploy's ONNX export, registered for the ONNX Runtime and OpenVINO
backends (where they take precedence over mmdeploy's default rewriters).

YOLOv3: mmdeploy 1.3.1's default rewriter of ``YOLOV3Head.predict_by_feat`` skips mmdet's
``conf_thr`` and ``score_thr`` filters (its NMS keeps every box with a non-zero score) and takes
its pre-NMS top-k by box rather than by (box, class) pair, so the deployed detector returns more
low-score boxes than the PyTorch one and its mAP differs. This rewriter applies the deploy
config's ``post_processing`` in mmdet's order, so that the graph computes mmdet's detections:

1. keep the boxes whose objectness is at least ``confidence_threshold`` (mmdet ``conf_thr``);
2. keep the (box, class) pairs whose class score exceeds ``score_threshold`` (``score_thr``),
   the ``pre_top_k`` highest (``nms_pre``);
3. score each pair class score x objectness, NMS per class at ``iou_threshold``
   (``nms.iou_threshold``), keep the ``keep_top_k`` best (``max_per_img``).

RTMDet-Ins: mmdeploy 1.3.1's rewriter of ``RTMDetInsHead.predict_by_feat`` builds the mask
decoder's point grid with ``single_level_grid_priors`` and no device, which is CUDA by default, so
the export fails on a machine without a GPU ("Found no NVIDIA driver"; mmdetection#9987). The
grid is built on the CPU there instead (``point_generator__single_level_grid_priors``).
"""
import torch
from mmdeploy.codebase.mmdet.deploy import get_post_processing_params
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.mmcv.ops import multiclass_nms
from mmdeploy.utils import is_dynamic_shape

YOLOV3_PREDICT = 'mmdet.models.dense_heads.yolo_head.YOLOV3Head.predict_by_feat'
POINT_GRID = ('mmdet.models.task_modules.prior_generators.point_generator.MlvlPointGenerator.'
              'single_level_grid_priors')


def yolov3_decode(head, pred_maps, static_anchors):
    """mmdet's YOLOv3 decoding, batched: boxes (B, N, 4), objectness (B, N) and class scores
    (B, N, C) over all levels."""
    featmap_sizes = [p.shape[-2:] for p in pred_maps]
    anchors = head.prior_generator.grid_priors(featmap_sizes, device=pred_maps[0].device)
    boxes, objectness, cls_scores = [], [], []
    for pred, level_anchors, stride in zip(pred_maps, anchors, head.featmap_strides):
        pred = pred.permute(0, 2, 3, 1).reshape(pred.shape[0], -1, head.num_attrib)
        if static_anchors:  # constants in a static graph instead of a computed grid
            level_anchors = level_anchors.data
        # Sigmoid of the centre offsets without in-place ops, which would export as constants.
        offsets = torch.cat([pred[..., :2].sigmoid(), pred[..., 2:4]], dim=-1)
        boxes.append(head.bbox_coder.decode(level_anchors.unsqueeze(0), offsets, stride))
        objectness.append(pred[..., 4].sigmoid())
        cls_scores.append(pred[..., 5:].sigmoid())
    return torch.cat(boxes, 1), torch.cat(objectness, 1), torch.cat(cls_scores, 1)


def mmdet_nms(boxes, objectness, cls_scores, params):
    """Steps 1-3 of the module docstring on batched tensors; returns (dets, labels) as
    mmdeploy's ``multiclass_nms``."""
    batch, num_boxes, num_classes = cls_scores.shape
    valid = (objectness >= params.confidence_threshold).unsqueeze(-1) & \
        (cls_scores > params.score_threshold)
    # Filtered pairs score -1: the NMS (score threshold 0) drops them, whatever its strictness.
    pair_scores = torch.where(valid, cls_scores, cls_scores.new_full((), -1.))
    top_scores, pairs = pair_scores.reshape(batch, num_boxes * num_classes).topk(
        params.pre_top_k, dim=1)
    box_index = torch.div(pairs, num_classes, rounding_mode='floor')
    labels = pairs - box_index * num_classes
    boxes = boxes.gather(1, box_index.unsqueeze(-1).expand(-1, -1, 4))
    scores = torch.where(top_scores > 0, top_scores * objectness.gather(1, box_index),
                         top_scores.new_full((), -1.))
    # One score column per class, -1 outside the pair's own class: class-wise NMS on the pairs.
    own_class = labels.unsqueeze(-1) == torch.arange(num_classes, device=labels.device)
    scores = torch.where(own_class, scores.unsqueeze(-1), scores.new_full((), -1.))
    return multiclass_nms(
        boxes, scores, params.max_output_boxes_per_class, iou_threshold=params.iou_threshold,
        score_threshold=0., pre_top_k=-1, keep_top_k=params.keep_top_k)


@FUNCTION_REWRITER.register_rewriter(func_name=YOLOV3_PREDICT, backend='onnxruntime')
@FUNCTION_REWRITER.register_rewriter(func_name=YOLOV3_PREDICT, backend='openvino')
def yolov3_head__predict_by_feat(self, pred_maps, cfg=None, rescale=False, with_nms=True,
                                 **kwargs):
    """``YOLOV3Head.predict_by_feat`` for export: (dets (B, K, 5), labels (B, K)) with mmdet's
    post-processing (module docstring), or (boxes, scores) without NMS."""
    deploy_cfg = FUNCTION_REWRITER.get_context().cfg
    boxes, objectness, cls_scores = yolov3_decode(self, pred_maps,
                                                  not is_dynamic_shape(deploy_cfg))
    if not with_nms:
        return boxes, cls_scores * objectness.unsqueeze(-1)
    return mmdet_nms(boxes, objectness, cls_scores, get_post_processing_params(deploy_cfg))


@FUNCTION_REWRITER.register_rewriter(func_name=POINT_GRID, backend='onnxruntime')
@FUNCTION_REWRITER.register_rewriter(func_name=POINT_GRID, backend='openvino')
def point_generator__single_level_grid_priors(self, featmap_size, level_idx,
                                              dtype=torch.float32, device='cuda',
                                              with_stride=False):
    """mmdet's ``MlvlPointGenerator.single_level_grid_priors``, on the CPU when it is asked for
    its default device, CUDA, on a machine without one (module docstring); mmdeploy's mask
    decoder moves the grid to the features' device."""
    if torch.device(device).type == 'cuda' and not torch.cuda.is_available():
        device = 'cpu'
    return FUNCTION_REWRITER.get_context().origin_func(self, featmap_size, level_idx, dtype,
                                                       device, with_stride)
