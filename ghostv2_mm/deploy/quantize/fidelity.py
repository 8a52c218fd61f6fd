"""How closely a quantised (or otherwise changed) model's outputs follow the float model's: top-1
agreement of logits, mean IoU of matched boxes, pixel agreement of label maps. numpy only."""
import numpy as np

from ...utils import check_choice
from ..compare import box_iou

TASKS = ('classification', 'detection', 'segmentation')


def top1_agreement(reference, candidate):
    """The fraction of images whose top-1 class is the same in both (N, C) logits."""
    reference, candidate = np.asarray(reference), np.asarray(candidate)
    return float((reference.argmax(-1) == candidate.argmax(-1)).mean())


def matched_box_iou(reference, candidate, score_thr=0.3):
    """Mean IoU of boxes scoring at least ``score_thr``, matched one to one greedily by IoU within
    each image and class; an unmatched box in either set counts as IoU 0, no box at all as 1.
    ``reference`` and ``candidate`` hold per image (N, 5) ``x1, y1, x2, y2, score`` boxes and (N,)
    labels (mmdeploy's ``dets`` and ``labels``)."""
    total, slots = 0., 0
    for (rd, rl), (cd, cl) in zip(reference, candidate):
        rd, rl, cd, cl = map(np.asarray, (rd, rl, cd, cl))
        rkeep, ckeep = rd[:, 4] >= score_thr, cd[:, 4] >= score_thr
        rd, rl, cd, cl = rd[rkeep], rl[rkeep], cd[ckeep], cl[ckeep]
        slots += max(len(rd), len(cd))
        if not len(rd) or not len(cd):
            continue
        iou = box_iou(rd[:, :4], cd[:, :4]) * (rl[:, None] == cl[None])
        while iou.max() > 0:
            i, j = np.unravel_index(iou.argmax(), iou.shape)
            total += iou[i, j]
            iou[i, :] = 0
            iou[:, j] = 0
    return total / slots if slots else 1.


def pixel_agreement(reference, candidate):
    """The fraction of pixels with the same class in both label maps (any shape) or, for
    float (N, C, H, W) logits, in their arg-max."""
    def labels(x):
        x = np.asarray(x)
        return x.argmax(1) if np.issubdtype(x.dtype, np.floating) and x.ndim == 4 else x
    return float((labels(reference) == labels(candidate)).mean())


def fidelity(task, reference, candidate, **kwargs):
    """How closely ``candidate`` outputs follow ``reference`` ones, per ``task``: top-1 agreement,
    :func:`matched_box_iou` or :func:`pixel_agreement`. The outputs are per image, as the
    runtimes return them (lists of output arrays of batch 1, or arrays stacked over the images)."""
    check_choice('task', task, TASKS)
    if task == 'detection':
        reference, candidate = ([(o[0][0], o[1][0]) for o in outs]  # each image's (dets, labels)
                                for outs in (reference, candidate))
        return matched_box_iou(reference, candidate, **kwargs)
    metric = top1_agreement if task == 'classification' else pixel_agreement
    return metric(_stack(reference), _stack(candidate))


def _stack(outputs):
    if isinstance(outputs, np.ndarray):
        return outputs
    return np.concatenate([o[0] if isinstance(o, (list, tuple)) else o for o in outputs])
