"""mmdet's detection post-processing (``YOLOV3Head.predict_by_feat``,
``BaseDenseHead._predict_by_feat_single``, ``_bbox_post_process``) in numpy and OpenCV, for graphs
that end before it (``post_processing.in_graph=False``: ncnn, LiteRT), from the head and
``test_cfg`` the graph's metadata records (:data:`METADATA_KEY`). docs/mobile.md explains why.
"""
import json

import numpy as np

# The ONNX metadata entry (and sidecar key) with the post-processing left to the runtime.
METADATA_KEY = 'ghostv2_mm.postprocess'
OUTPUT_NAMES = ('dets', 'labels')
WH_RATIO_CLIP = 16 / 1000  # DeltaXYWHBBoxCoder.decode's: the largest log scale of a box


def read_spec(text):
    """The post-processing of a graph from its metadata entry (JSON text; None when absent)."""
    return json.loads(text) if text else None


def top_pairs(scores, score_thr, nms_pre):
    """mmdet's ``filter_scores_and_topk`` on (N, C) ``scores``: the ``nms_pre`` (all when <= 0)
    best (box, class) pairs scoring above ``score_thr`` as (scores, box indices, labels)."""
    boxes, labels = np.nonzero(scores > score_thr)
    pair_scores = scores[boxes, labels]
    order = np.argsort(-pair_scores, kind='stable')
    if nms_pre > 0:
        order = order[:nms_pre]
    return pair_scores[order], boxes[order], labels[order]


def batched_nms(boxes, scores, labels, iou_thr):
    """Indices of the (x1, y1, x2, y2) ``boxes`` kept by class-wise NMS, best first."""
    import cv2
    if not len(boxes):
        return np.zeros(0, np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1).astype(np.float64)
    keep = cv2.dnn.NMSBoxesBatched(xywh, scores.astype(np.float32), labels.astype(np.int32),
                                   -1., float(iou_thr))
    return np.asarray(keep, np.int64).reshape(-1)


def decode(spec, deltas):
    """The (N, 4) boxes of the (N, 4) regression ``deltas``, decoded from the priors by the
    head's coder, clipped to the input where the coder clips."""
    priors = np.asarray(spec['priors'], np.float32)
    coder = spec['coder']
    if coder == 'YOLOBBoxCoder':
        strides = np.repeat(np.asarray(spec['strides'], np.float32),
                            spec['level_sizes'])[:, None]
        centres = (priors[:, :2] + priors[:, 2:]) * 0.5 + (deltas[:, :2] - 0.5) * strides
        half = (priors[:, 2:] - priors[:, :2]) * 0.5 * np.exp(deltas[:, 2:])
        return np.concatenate([centres - half, centres + half], 1)
    if coder == 'DistancePointBBoxCoder':
        boxes = np.concatenate([priors[:, :2] - deltas[:, :2], priors[:, :2] + deltas[:, 2:]], 1)
    elif coder == 'DeltaXYWHBBoxCoder':
        deltas = deltas * np.asarray(spec['stds'], np.float32) + \
            np.asarray(spec['means'], np.float32)
        centres = (priors[:, :2] + priors[:, 2:]) * 0.5
        sizes = priors[:, 2:] - priors[:, :2]
        shift, scale = sizes * deltas[:, :2], deltas[:, 2:]
        max_ratio = np.abs(np.log(WH_RATIO_CLIP))
        if spec['add_ctr_clamp']:
            shift = np.clip(shift, -spec['ctr_clamp'], spec['ctr_clamp'])
            scale = np.minimum(scale, max_ratio)
        else:
            scale = np.clip(scale, -max_ratio, max_ratio)
        half = sizes * np.exp(scale) * 0.5
        boxes = np.concatenate([centres + shift - half, centres + shift + half], 1)
    else:
        raise ValueError(f'the box coder {coder} has no numpy decoding')
    if spec.get('clip_border', True):
        height, width = spec['img_shape']
        np.clip(boxes[:, 0::2], 0, width, out=boxes[:, 0::2])
        np.clip(boxes[:, 1::2], 0, height, out=boxes[:, 1::2])
    return boxes


def detections(outputs, spec):
    """The end-to-end graph's ``dets`` (1, keep_top_k, 5) and ``labels`` (1, keep_top_k), padded
    with score 0 and label -1, from the graph's ``deltas``, ``scores`` (and YOLOv3's
    ``objectness``): YOLOv3 ranks confident boxes by class score x objectness, the dense heads
    rank per level; then ``min_bbox_size`` and class-wise NMS."""
    boxes, scores = decode(spec, outputs['deltas'][0]), outputs['scores'][0]
    thr, nms_pre = spec['score_threshold'], spec['pre_top_k']
    if spec['head'] == 'yolov3':
        objectness = outputs['objectness'][0].reshape(-1)
        confident = (objectness >= spec['confidence_threshold'])[:, None]
        pair_scores, index, labels = top_pairs(np.where(confident, scores, -1.), thr, nms_pre)
        pair_scores = pair_scores * objectness[index]
    else:
        parts, start = [], 0
        for size in spec['level_sizes']:
            s, i, lbl = top_pairs(scores[start:start + size], thr, nms_pre)
            parts.append((s, i + start, lbl))
            start += size
        pair_scores, index, labels = (np.concatenate(p) for p in zip(*parts))
    pair_boxes = boxes[index]
    if spec.get('min_bbox_size', -1) >= 0:
        wide = (pair_boxes[:, 2:] - pair_boxes[:, :2] > spec['min_bbox_size']).all(1)
        pair_scores, pair_boxes, labels = pair_scores[wide], pair_boxes[wide], labels[wide]
    keep = batched_nms(pair_boxes, pair_scores, labels, spec['iou_threshold'])[:spec['keep_top_k']]
    dets = np.zeros((1, spec['keep_top_k'], 5), np.float32)
    kept_labels = np.full((1, spec['keep_top_k']), -1, np.int64)
    dets[0, :len(keep), :4], dets[0, :len(keep), 4] = pair_boxes[keep], pair_scores[keep]
    kept_labels[0, :len(keep)] = labels[keep]
    return dict(zip(OUTPUT_NAMES, (dets, kept_labels)))
