"""Per-image comparison of two predictions of one model (mmdet, mmseg or mmpretrain data samples
of PyTorch and a deployed backend, or of two precisions)."""
import numpy as np


def _numpy(tensor):
    return tensor.detach().cpu().numpy() if hasattr(tensor, 'detach') else np.asarray(tensor)


def _instances(result):
    inst = result.pred_instances
    return _numpy(inst.bboxes), _numpy(inst.scores), _numpy(inst.labels)


def task_of(result):
    if 'pred_instances' in result:
        return 'detection'
    if 'pred_sem_seg' in result:
        return 'segmentation'
    if 'pred_score' in result:
        return 'classification'
    raise TypeError(f'no detection, segmentation or classification prediction in {result!r}')


def box_iou(a, b):
    """IoU matrix of boxes ``a`` (N, 4) and ``b`` (M, 4) in (x1, y1, x2, y2)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-12)


def match_detections(boxes, scores, labels, other_boxes, other_scores, other_labels,
                     iou_thr=0.5):
    """(index, other index, IoU) of each greedy match, best score first, of a box to the
    unmatched box of its label in the other set with the highest IoU (at least ``iou_thr``)."""
    iou = np.where(labels[:, None] == other_labels[None, :], box_iou(boxes, other_boxes), -1)
    taken = np.zeros(len(other_boxes), bool)
    matches = []
    for i in np.argsort(-scores, kind='stable'):
        candidates = np.where(taken, -1, iou[i])
        if len(candidates) and candidates.max() >= iou_thr:
            j = int(candidates.argmax())
            taken[j] = True
            matches.append((int(i), j, float(iou[i, j])))
    return matches


def difference(reference, result):
    """How ``result`` differs from ``reference``: detection ``num``/``num_ref``, ``matched``
    (the reference's boxes matched, :func:`match_detections`), ``mean_iou`` and
    ``max_score_diff`` of the matches; segmentation ``pixel_agreement``; classification
    ``same_top1`` and ``max_score_diff``."""
    task = task_of(reference)
    if task == 'detection':
        ref_boxes, ref_scores, ref_labels = _instances(reference)
        boxes, scores, labels = _instances(result)
        matches = match_detections(ref_boxes, ref_scores, ref_labels, boxes, scores, labels)
        return dict(
            num_ref=len(ref_boxes), num=len(boxes),
            matched=len(matches) / len(ref_boxes) if len(ref_boxes) else float(len(boxes) == 0),
            mean_iou=float(np.mean([m[2] for m in matches])) if matches else float('nan'),
            max_score_diff=max((abs(float(ref_scores[i] - scores[j])) for i, j, _ in matches),
                               default=0.))
    if task == 'segmentation':
        ref, res = _numpy(reference.pred_sem_seg.data), _numpy(result.pred_sem_seg.data)
        if ref.shape != res.shape:
            raise ValueError(f'label maps differ in shape: {ref.shape} and {res.shape}')
        return dict(pixel_agreement=float((ref == res).mean()))
    ref, res = _numpy(reference.pred_score), _numpy(result.pred_score)
    return dict(same_top1=bool(ref.argmax() == res.argmax()),
                max_score_diff=float(np.abs(ref - res).max()))


def describe(result, classes=None, top=5):
    """A few lines naming the ``top`` predictions of ``result`` (boxes by score, the most frequent
    labels of a label map, the best classes)."""
    def name(label):
        return classes[label] if classes is not None and label < len(classes) else str(label)

    task = task_of(result)
    if task == 'detection':
        boxes, scores, labels = _instances(result)
        order = np.argsort(-scores, kind='stable')[:top]
        lines = [f'{len(scores)} boxes']
        lines += [f'  {name(int(labels[i]))} {scores[i]:.3f} '
                  f'[{", ".join(f"{v:.1f}" for v in boxes[i])}]' for i in order]
        return '\n'.join(lines)
    if task == 'segmentation':
        seg = _numpy(result.pred_sem_seg.data).ravel()
        values, counts = np.unique(seg, return_counts=True)
        order = np.argsort(-counts)[:top]
        return 'label map: ' + ', '.join(f'{name(int(values[i]))} {counts[i] / seg.size:.1%}'
                                         for i in order)
    scores = _numpy(result.pred_score)
    order = np.argsort(-scores)[:top]
    return 'scores: ' + ', '.join(f'{name(int(i))} {scores[i]:.3f}' for i in order)


def format_difference(diff):
    """One line for a :func:`difference` dict."""
    return ', '.join(f'{k} {v:.4g}' if isinstance(v, float) else f'{k} {v}'
                     for k, v in diff.items())
