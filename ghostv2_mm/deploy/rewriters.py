"""Graph rewriters for mmdeploy's ONNX export, registered for ONNX Runtime and OpenVINO (over
mmdeploy's defaults), that compute mmdet's post-processing in the graph where mmdeploy 1.3.1's
differs (docs/deployment.md): (1) YOLOv3: the objectness filter (``conf_thr``); (2) the
``pre_top_k`` best (box, class) pairs above ``score_threshold`` (dense heads: per level, then the
boxes decoded and clipped, those not larger than ``min_bbox_size`` dropped); (3) class-wise NMS,
the ``keep_top_k`` best kept; RTMDet-Ins: their mask logits at the input's size.

With ``post_processing.in_graph=False`` (mobile runtimes, docs/mobile.md) the graph ends before
step 1 and the box decoding, and :func:`graph_postprocess` describes the rest for
:mod:`.postprocess`.
"""
import torch
import torch.nn.functional as F
from mmdeploy.codebase.mmdet.deploy import get_post_processing_params
from mmdeploy.codebase.mmdet.models.dense_heads.rtmdet_ins_head import \
    _mask_predict_by_feat_single
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.mmcv.ops import multiclass_nms
from mmdeploy.utils import is_dynamic_shape

HEADS = 'mmdet.models.dense_heads.'


def rewriter(*func_names):
    """Register the decorated function as the rewriter of each of ``func_names`` for ONNX Runtime
    and OpenVINO."""
    def register(func):
        for name in func_names:
            for backend in ('onnxruntime', 'openvino'):
                FUNCTION_REWRITER.register_rewriter(func_name=name, backend=backend)(func)
        return func
    return register


def flat(x, channels):
    """A (B, C, H, W) prediction map as (B, H * W * C / channels, channels)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, channels)


def take(x, index):
    """The rows ``index`` (B, K) of ``x`` (B, N, ...)."""
    index = index[(...,) + (None,) * (x.dim() - 2)]  # Unsqueeze, no Shape ops in the graph
    return x.gather(1, index.expand(-1, -1, *x.shape[2:]))


def class_scores(head, logits):
    """A dense head's class scores (B, N, C) of its flattened class logits."""
    return logits.sigmoid() if head.use_sigmoid_cls else logits.softmax(-1)[..., :-1]


def yolov3_level(head, pred):
    """One level of mmdet's YOLOv3 prediction maps, batched: the box offsets (B, N, 4) (the
    centres' through a sigmoid), objectness (B, N) and class scores (B, N, C)."""
    pred = flat(pred, head.num_attrib)
    # Sigmoid of the centre offsets without in-place ops, which would export as constants.
    offsets = torch.cat([pred[..., :2].sigmoid(), pred[..., 2:4]], dim=-1)
    return offsets, pred[..., 4].sigmoid(), pred[..., 5:].sigmoid()


def yolov3_decode(head, pred_maps, static_anchors):
    """mmdet's YOLOv3 decoding, batched: boxes (B, N, 4), objectness (B, N) and class scores
    (B, N, C) over all levels."""
    featmap_sizes = [p.shape[-2:] for p in pred_maps]
    anchors = head.prior_generator.grid_priors(featmap_sizes, device=pred_maps[0].device)
    levels = []
    for pred, level_anchors, stride in zip(pred_maps, anchors, head.featmap_strides):
        if static_anchors:  # constants in a static graph instead of a computed grid
            level_anchors = level_anchors.data
        offsets, objectness, cls_scores = yolov3_level(head, pred)
        levels.append((head.bbox_coder.decode(level_anchors.unsqueeze(0), offsets, stride),
                       objectness, cls_scores))
    return tuple(torch.cat(x, 1) for x in zip(*levels))


def mmdet_nms(boxes, objectness, cls_scores, params):
    """YOLOv3's steps 1-3 (module docstring) on batched tensors; returns (dets, labels) as
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
    scores = torch.where(top_scores > 0, top_scores * objectness.gather(1, box_index),
                         top_scores.new_full((), -1.))
    # One score column per class, -1 outside the pair's own class: class-wise NMS on the pairs.
    own_class = labels.unsqueeze(-1) == torch.arange(num_classes, device=labels.device)
    scores = torch.where(own_class, scores.unsqueeze(-1), scores.new_full((), -1.))
    return multiclass_nms(
        boxes.gather(1, box_index.unsqueeze(-1).expand(-1, -1, 4)), scores,
        params.max_output_boxes_per_class,
        iou_threshold=params.iou_threshold, score_threshold=0., pre_top_k=-1,
        keep_top_k=params.keep_top_k)


@rewriter(HEADS + 'yolo_head.YOLOV3Head.predict_by_feat')
def yolov3_head__predict_by_feat(self, pred_maps, cfg=None, rescale=False, with_nms=True,
                                 **kwargs):
    """``YOLOV3Head.predict_by_feat`` for export: (dets (B, K, 5), labels (B, K)), or (boxes,
    scores) without NMS, or the head's outputs (``in_graph=False``)."""
    deploy_cfg = FUNCTION_REWRITER.get_context().cfg
    params = get_post_processing_params(deploy_cfg)
    if with_nms and not params.get('in_graph', True):
        return tuple(torch.cat(out, 1) for out in zip(*(yolov3_level(self, p)
                                                        for p in pred_maps)))
    boxes, objectness, cls_scores = yolov3_decode(self, pred_maps,
                                                  not is_dynamic_shape(deploy_cfg))
    if not with_nms:
        return boxes, cls_scores * objectness.unsqueeze(-1)
    return mmdet_nms(boxes, objectness, cls_scores, params)


@rewriter('mmdet.models.task_modules.prior_generators.point_generator.MlvlPointGenerator.'
          'single_level_grid_priors')
def point_generator__single_level_grid_priors(self, featmap_size, level_idx,
                                              dtype=torch.float32, device='cuda',
                                              with_stride=False):
    """mmdet's ``MlvlPointGenerator.single_level_grid_priors``, on the CPU when it is asked for
    CUDA on a machine without one: mmdeploy 1.3.1's RTMDet-Ins mask decoder asks for the default
    device, CUDA, so the export fails without a GPU (mmdetection#9987); it moves the grid to the
    features' device."""
    if torch.device(device).type == 'cuda' and not torch.cuda.is_available():
        device = 'cpu'
    return FUNCTION_REWRITER.get_context().origin_func(self, featmap_size, level_idx, dtype,
                                                       device, with_stride)


def level_pairs(scores, score_thr, nms_pre):
    """mmdet's ``filter_scores_and_topk`` on one level, batched: the ``nms_pre`` best (box,
    class) pairs of ``scores`` (B, N, C) as (pair scores, box indices, labels), each (B, k);
    pairs not above ``score_thr`` score -1."""
    num_pairs = scores.shape[1] * scores.shape[2]
    pair_scores = torch.where(scores > score_thr, scores, scores.new_full((), -1.))
    top, pairs = pair_scores.flatten(1).topk(
        num_pairs if nms_pre <= 0 else min(nms_pre, num_pairs), dim=1)
    boxes = torch.div(pairs, scores.shape[2], rounding_mode='floor')
    return top, boxes, pairs - boxes * scores.shape[2]


def batched_nms(boxes, scores, labels, iou_threshold, keep_top_k):
    """mmdet's class-wise ``batched_nms`` (with mmdeploy's NMS) on (B, K) candidates (score -1:
    dropped); returns the kept candidates' scores, best first, and indices, each
    (B, keep_top_k) (score 0 and index -1 on the rows that pad them)."""
    offsets = labels.to(boxes) * (boxes.max() + 1)
    dets, _, index = multiclass_nms(
        boxes + offsets.unsqueeze(-1), scores.unsqueeze(-1), keep_top_k,
        iou_threshold=iou_threshold, score_threshold=0., pre_top_k=-1, keep_top_k=keep_top_k,
        output_index=True)
    return dets[..., 4], index


def graph_postprocess(model, inputs, deploy_cfg):
    """:func:`postprocess_spec` of the detector ``model`` on ``inputs`` where a graph exported
    with ``deploy_cfg`` leaves the post-processing to the runtime, else None."""
    if deploy_cfg.codebase_config.get('task') != 'ObjectDetection' or \
            get_post_processing_params(deploy_cfg).get('in_graph', True):
        return None
    with torch.no_grad():
        maps = model.bbox_head(model.extract_feat(inputs))[0]
    return postprocess_spec(model.bbox_head, maps, tuple(inputs.shape[-2:]), deploy_cfg)


def postprocess_spec(head, maps, img_shape, deploy_cfg):
    """What :mod:`.postprocess` needs to finish a graph of ``head`` (its class-score ``maps``)
    that ends before the box decoding, for an input of ``img_shape`` (H, W)."""
    from mmdet.models.dense_heads import YOLOV3Head
    params = get_post_processing_params(deploy_cfg)
    coder = head.bbox_coder
    priors = head.prior_generator.grid_priors([m.shape[-2:] for m in maps], device='cpu')
    spec = dict(head='yolov3' if isinstance(head, YOLOV3Head) else 'dense',
                coder=type(coder).__name__, img_shape=list(img_shape),
                priors=torch.cat(priors).tolist(),
                level_sizes=[len(p) for p in priors],
                min_bbox_size=(head.test_cfg or {}).get('min_bbox_size', -1),
                **{key: params[key] for key in ('score_threshold', 'iou_threshold',
                                                'pre_top_k', 'keep_top_k')})
    for key in ('means', 'stds', 'clip_border', 'add_ctr_clamp', 'ctr_clamp'):
        if hasattr(coder, key):
            value = getattr(coder, key)
            spec[key] = list(value) if isinstance(value, (tuple, list)) else value
    if spec['head'] == 'yolov3':
        spec['confidence_threshold'] = params['confidence_threshold']
        spec['strides'] = [s[0] for s in head.prior_generator.strides]
    return spec


def dense_detections(head, cls_scores, bbox_preds, batch_img_metas, cfg, params, extras=()):
    """The dense heads' steps 1-3 (module docstring): (dets (B, K, 5), labels (B, K)), the kept
    priors and the kept rows of each of ``extras`` (per-level (B, N, X) tensors, e.g. mask
    kernels)."""
    with_stride = bool(extras)  # RTMDet-Ins: its mask decoder needs each prior's stride
    priors = head.prior_generator.grid_priors([score.shape[-2:] for score in cls_scores],
                                              dtype=cls_scores[0].dtype,
                                              device=cls_scores[0].device,
                                              **(dict(with_stride=True) if with_stride else {}))
    levels = []
    for level, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
        scores = class_scores(head, flat(cls_score, head.cls_out_channels))
        top, index, label = level_pairs(scores, params.score_threshold, params.pre_top_k)
        levels.append((top, label, take(flat(bbox_pred, head.bbox_coder.encode_size), index),
                       priors[level][index], *(take(extra[level], index) for extra in extras)))
    scores, labels, deltas, kept_priors, *kept_extras = (torch.cat(x, 1) for x in zip(*levels))
    boxes = head.bbox_coder.decode(kept_priors[..., :2] if with_stride else kept_priors, deltas,
                                   max_shape=batch_img_metas[0]['img_shape'])
    min_size = cfg.get('min_bbox_size', -1)
    if min_size >= 0:
        valid = (boxes[..., 2] - boxes[..., 0] > min_size) & \
            (boxes[..., 3] - boxes[..., 1] > min_size)
        scores = torch.where(valid, scores, scores.new_full((), -1.))
    scores, index = batched_nms(boxes, scores, labels, params.iou_threshold,
                                params.keep_top_k)
    valid = index >= 0
    keep = torch.where(valid, index, index.new_zeros(()))  # no int64 Clip in opset 11
    dets = torch.cat([take(boxes, keep),
                      torch.where(valid, scores, scores.new_zeros(()))[..., None]], -1)
    labels = torch.where(valid, take(labels, keep), labels.new_full((), -1))
    return dets, labels, take(kept_priors, keep), [take(k, keep) for k in kept_extras]


@rewriter(HEADS + 'rtmdet_head.RTMDetHead.predict_by_feat',
          HEADS + 'ssd_head.SSDHead.predict_by_feat')
def dense_head__predict_by_feat(self, cls_scores, bbox_preds, score_factors=None,
                                batch_img_metas=None, cfg=None, rescale=False, with_nms=True,
                                **kwargs):
    """``predict_by_feat`` of RTMDet's and SSD's heads for export: (dets (B, K, 5), labels
    (B, K)) with mmdet's post-processing, or every prior's box regression (B, N, 4) and class
    scores (B, N, C) before it."""
    params = get_post_processing_params(FUNCTION_REWRITER.get_context().cfg)
    if not params.get('in_graph', True):
        return (torch.cat([flat(p, self.bbox_coder.encode_size) for p in bbox_preds], 1),
                class_scores(self, torch.cat([flat(s, self.cls_out_channels)
                                              for s in cls_scores], 1)))
    cfg = self.test_cfg if cfg is None else cfg
    return dense_detections(self, cls_scores, bbox_preds, batch_img_metas, cfg, params)[:2]


@rewriter(HEADS + 'rtmdet_ins_head.RTMDetInsHead.predict_by_feat')
def rtmdet_ins_head__predict_by_feat(self, cls_scores, bbox_preds, kernel_preds, mask_feat,
                                     score_factors=None, batch_img_metas=None, cfg=None,
                                     rescale=False, with_nms=True):
    """``RTMDetInsHead.predict_by_feat`` for export: (dets (B, K, 5), labels (B, K), mask
    logits (B, K, H, W) at the input's size) with mmdet's post-processing."""
    deploy_cfg = FUNCTION_REWRITER.get_context().cfg
    cfg = self.test_cfg if cfg is None else cfg
    kernels = [flat(k, self.num_gen_params) for k in kernel_preds]
    dets, labels, priors, (kernels, ) = dense_detections(
        self, cls_scores, bbox_preds, batch_img_metas, cfg,
        get_post_processing_params(deploy_cfg), extras=(kernels, ))
    mask_logits = _mask_predict_by_feat_single(self, mask_feat, kernels, priors)
    stride = self.prior_generator.strides[0][0]
    return dets, labels, F.interpolate(mask_logits, scale_factor=stride, mode='bilinear')
