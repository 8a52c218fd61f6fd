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

RTMDet, RTMDet-Ins and SSD: mmdeploy 1.3.1's rewriters take their pre-NMS top-k over boxes by
their best class score, over all levels at once, and do not clip the boxes to the image, where
mmdet (``BaseDenseHead._predict_by_feat_single``) keeps, per level, the ``nms_pre`` best (box,
class) pairs whose score exceeds ``score_thr`` and clips the decoded boxes; its RTMDet-Ins masks
are mask logits up-sampled, resized to the original image and then binarised, where mmdeploy's
graph outputs probabilities that its backend model resizes by nearest neighbour. The rewriters
here compute mmdet's detections:

1. per level, the ``pre_top_k`` (``nms_pre``) best (box, class) pairs with a class score above
   ``score_threshold`` (``score_thr``);
2. the boxes decoded by the head's coder and clipped to the input (``max_shape``); pairs whose
   box is not wider and higher than the model's ``test_cfg.min_bbox_size`` dropped;
3. NMS per class at ``iou_threshold`` as mmdet's ``batched_nms`` does it (every class's boxes
   shifted apart, one NMS), the ``keep_top_k`` (``max_per_img``) best kept;
4. RTMDet-Ins: the mask logits of the kept boxes at the input's size; the backend model of
   :mod:`.backend_models` resizes them to the image and binarises them as mmdet does.

A graph for the mobile runtimes (the deploy config's ``post_processing.in_graph=False``) ends
before step 1 and the box decoding: it outputs every prior's box regression and class scores
(YOLOv3: and objectness), and :func:`graph_postprocess` describes the rest, which
:mod:`.postprocess` computes in numpy.

mmdeploy 1.3.1's RTMDet-Ins mask decoder also builds its point grid with
``single_level_grid_priors`` and no device, which is CUDA by default, so the export fails on a
machine without a GPU ("Found no NVIDIA driver"; mmdetection#9987). The grid is built on the CPU
there instead (``point_generator__single_level_grid_priors``).
"""
import torch
import torch.nn.functional as F
from mmdeploy.codebase.mmdet.deploy import get_post_processing_params
from mmdeploy.codebase.mmdet.models.dense_heads.rtmdet_ins_head import \
    _mask_predict_by_feat_single
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.mmcv.ops import multiclass_nms
from mmdeploy.utils import is_dynamic_shape

YOLOV3_PREDICT = 'mmdet.models.dense_heads.yolo_head.YOLOV3Head.predict_by_feat'
DENSE_PREDICT = ('mmdet.models.dense_heads.rtmdet_head.RTMDetHead.predict_by_feat',
                 'mmdet.models.dense_heads.ssd_head.SSDHead.predict_by_feat')
RTMDET_INS_PREDICT = 'mmdet.models.dense_heads.rtmdet_ins_head.RTMDetInsHead.predict_by_feat'
POINT_GRID = ('mmdet.models.task_modules.prior_generators.point_generator.MlvlPointGenerator.'
              'single_level_grid_priors')


def yolov3_level(head, pred):
    """One level of mmdet's YOLOv3 prediction maps, batched: the box offsets (B, N, 4) (the
    centres' through a sigmoid), objectness (B, N) and class scores (B, N, C)."""
    pred = pred.permute(0, 2, 3, 1).reshape(pred.shape[0], -1, head.num_attrib)
    # Sigmoid of the centre offsets without in-place ops, which would export as constants.
    offsets = torch.cat([pred[..., :2].sigmoid(), pred[..., 2:4]], dim=-1)
    return offsets, pred[..., 4].sigmoid(), pred[..., 5:].sigmoid()


def yolov3_decode(head, pred_maps, static_anchors):
    """mmdet's YOLOv3 decoding, batched: boxes (B, N, 4), objectness (B, N) and class scores
    (B, N, C) over all levels."""
    featmap_sizes = [p.shape[-2:] for p in pred_maps]
    anchors = head.prior_generator.grid_priors(featmap_sizes, device=pred_maps[0].device)
    boxes, objectness, cls_scores = [], [], []
    for pred, level_anchors, stride in zip(pred_maps, anchors, head.featmap_strides):
        if static_anchors:  # constants in a static graph instead of a computed grid
            level_anchors = level_anchors.data
        offsets, level_objectness, level_scores = yolov3_level(head, pred)
        boxes.append(head.bbox_coder.decode(level_anchors.unsqueeze(0), offsets, stride))
        objectness.append(level_objectness)
        cls_scores.append(level_scores)
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
    params = get_post_processing_params(deploy_cfg)
    if with_nms and not params.get('in_graph', True):
        return tuple(torch.cat(out, 1) for out in zip(*(yolov3_level(self, p)
                                                        for p in pred_maps)))
    boxes, objectness, cls_scores = yolov3_decode(self, pred_maps,
                                                  not is_dynamic_shape(deploy_cfg))
    if not with_nms:
        return boxes, cls_scores * objectness.unsqueeze(-1)
    return mmdet_nms(boxes, objectness, cls_scores, params)


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
    """mmdet's class-wise ``batched_nms`` on (B, K) candidates (score -1: dropped): each class's
    boxes shifted past all others, one NMS (mmdeploy's, batch 1 in static graphs); returns the
    scores of the kept candidates, best first, and their indices, each (B, keep_top_k) (score 0
    and index -1 on the rows that pad them)."""
    offsets = labels.to(boxes) * (boxes.max() + 1)
    dets, _, index = multiclass_nms(
        boxes + offsets.unsqueeze(-1), scores.unsqueeze(-1), keep_top_k,
        iou_threshold=iou_threshold, score_threshold=0., pre_top_k=-1, keep_top_k=keep_top_k,
        output_index=True)
    return dets[..., 4], index


def dense_outputs(head, cls_scores, bbox_preds):
    """Every prior's box regression (B, N, 4) and class scores (B, N, C), the levels one after
    the other: a dense head's outputs before step 1 and the box decoding."""
    batch = cls_scores[0].shape[0]
    scores = torch.cat([s.permute(0, 2, 3, 1).reshape(batch, -1, head.cls_out_channels)
                        for s in cls_scores], 1)
    scores = scores.sigmoid() if head.use_sigmoid_cls else scores.softmax(-1)[..., :-1]
    deltas = torch.cat([p.permute(0, 2, 3, 1).reshape(batch, -1, head.bbox_coder.encode_size)
                        for p in bbox_preds], 1)
    return deltas, scores


def graph_postprocess(model, inputs, deploy_cfg):
    """The post-processing a graph exported with ``deploy_cfg`` leaves to the runtime
    (:mod:`.postprocess`) for the detector ``model`` on ``inputs``: :func:`postprocess_spec`
    of its head's class-score maps; None when the graph has it (not a detector, or
    ``post_processing.in_graph`` unset or True)."""
    if deploy_cfg.codebase_config.get('task') != 'ObjectDetection' or \
            get_post_processing_params(deploy_cfg).get('in_graph', True):
        return None
    with torch.no_grad():
        maps = model.bbox_head(model.extract_feat(inputs))[0]
    return postprocess_spec(model.bbox_head, maps, tuple(inputs.shape[-2:]), deploy_cfg)


def postprocess_spec(head, maps, img_shape, deploy_cfg):
    """What :mod:`.postprocess` needs to finish a graph of ``head`` that ends before the box
    decoding, for an input of ``img_shape`` (H, W): the coder and its settings, every prior (and
    YOLOv3's strides), the number of priors of each level (of the class-score ``maps``), the
    deploy config's thresholds and the head's ``min_bbox_size``."""
    from mmdet.models.dense_heads import YOLOV3Head
    params = get_post_processing_params(deploy_cfg)
    coder = head.bbox_coder
    sizes = [m.shape[-2:] for m in maps]
    priors = head.prior_generator.grid_priors(sizes, device='cpu')
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
    """Steps 1-3 of the module docstring for a dense head: (dets (B, K, 5), labels (B, K)) and
    the kept rows of each of ``extras`` (per-level (B, N, X) tensors, e.g. mask kernels)."""
    batch = cls_scores[0].shape[0]
    featmap_sizes = [score.shape[-2:] for score in cls_scores]
    with_stride = bool(extras)  # RTMDet-Ins: its mask decoder needs each prior's stride
    priors = head.prior_generator.grid_priors(featmap_sizes, dtype=cls_scores[0].dtype,
                                              device=cls_scores[0].device,
                                              **(dict(with_stride=True) if with_stride else {}))
    scores, labels, deltas, kept_priors = [], [], [], []
    kept_extras = [[] for _ in extras]
    for level, (cls_score, bbox_pred) in enumerate(zip(cls_scores, bbox_preds)):
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(batch, -1, head.cls_out_channels)
        level_scores = cls_score.sigmoid() if head.use_sigmoid_cls else \
            cls_score.softmax(-1)[..., :-1]
        top, index, label = level_pairs(level_scores, params.score_threshold, params.pre_top_k)
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(batch, -1, head.bbox_coder.encode_size)
        deltas.append(bbox_pred.gather(1, index.unsqueeze(-1).expand(-1, -1,
                                                                     bbox_pred.shape[-1])))
        kept_priors.append(priors[level][index])
        for kept, extra in zip(kept_extras, extras):
            kept.append(extra[level].gather(1, index.unsqueeze(-1).expand(
                -1, -1, extra[level].shape[-1])))
        scores.append(top)
        labels.append(label)
    scores, labels, kept_priors = torch.cat(scores, 1), torch.cat(labels, 1), \
        torch.cat(kept_priors, 1)
    boxes = head.bbox_coder.decode(kept_priors[..., :2] if with_stride else kept_priors,
                                   torch.cat(deltas, 1),
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

    def rows(x):
        return x.gather(1, keep.view(*keep.shape, *[1] * (x.dim() - 2)).expand(
            -1, -1, *x.shape[2:]))

    dets = torch.cat([rows(boxes), torch.where(valid, scores, scores.new_zeros(()))[..., None]],
                     -1)
    labels = torch.where(valid, rows(labels), labels.new_full((), -1))
    return dets, labels, rows(kept_priors), [rows(torch.cat(k, 1)) for k in kept_extras]


def _dense_head_predict(self, cls_scores, bbox_preds, score_factors=None, batch_img_metas=None,
                        cfg=None, rescale=False, with_nms=True, **kwargs):
    """``predict_by_feat`` of RTMDet's and SSD's heads for export: (dets (B, K, 5), labels
    (B, K)) with mmdet's post-processing, or the boxes and scores before it (module
    docstring)."""
    params = get_post_processing_params(FUNCTION_REWRITER.get_context().cfg)
    if not params.get('in_graph', True):
        return dense_outputs(self, cls_scores, bbox_preds)
    cfg = self.test_cfg if cfg is None else cfg
    dets, labels, _, _ = dense_detections(self, cls_scores, bbox_preds, batch_img_metas, cfg,
                                          params)
    return dets, labels


for _path in DENSE_PREDICT:
    for _backend in ('onnxruntime', 'openvino'):
        FUNCTION_REWRITER.register_rewriter(func_name=_path,
                                            backend=_backend)(_dense_head_predict)


@FUNCTION_REWRITER.register_rewriter(func_name=RTMDET_INS_PREDICT, backend='onnxruntime')
@FUNCTION_REWRITER.register_rewriter(func_name=RTMDET_INS_PREDICT, backend='openvino')
def rtmdet_ins_head__predict_by_feat(self, cls_scores, bbox_preds, kernel_preds, mask_feat,
                                     score_factors=None, batch_img_metas=None, cfg=None,
                                     rescale=False, with_nms=True):
    """``RTMDetInsHead.predict_by_feat`` for export: (dets (B, K, 5), labels (B, K), mask
    logits (B, K, H, W) at the input's size) with mmdet's post-processing (module docstring)."""
    deploy_cfg = FUNCTION_REWRITER.get_context().cfg
    cfg = self.test_cfg if cfg is None else cfg
    batch = cls_scores[0].shape[0]
    kernels = [k.permute(0, 2, 3, 1).reshape(batch, -1, self.num_gen_params)
               for k in kernel_preds]
    dets, labels, priors, (kernels, ) = dense_detections(
        self, cls_scores, bbox_preds, batch_img_metas, cfg,
        get_post_processing_params(deploy_cfg), extras=(kernels, ))
    mask_logits = _mask_predict_by_feat_single(self, mask_feat, kernels, priors)
    stride = self.prior_generator.strides[0][0]
    return dets, labels, F.interpolate(mask_logits, scale_factor=stride, mode='bilinear')
