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
    """Mean IoU of matched boxes: in each image, the boxes scoring at least ``score_thr`` are
    matched one to one, greedily by IoU, to boxes of the same class; a box left without a match
    in either set counts as IoU 0, so missing and extra boxes both lower the figure.

    Args:
        reference, candidate (list[tuple[np.ndarray, np.ndarray]]): Per image, (N, 5) boxes
            ``x1, y1, x2, y2, score`` and (N,) labels (mmdeploy's ``dets`` and ``labels``).

    Returns:
        float: In [0, 1]; 1 when neither has a box.
    """
    total, slots = 0., 0
    for (rd, rl), (cd, cl) in zip(reference, candidate):
        rd, rl, cd, cl = map(np.asarray, (rd, rl, cd, cl))
        rkeep, ckeep = rd[:, 4] >= score_thr, cd[:, 4] >= score_thr
        rd, rl, cd, cl = rd[rkeep], rl[rkeep], cd[ckeep], cl[ckeep]
        slots += max(len(rd), len(cd))
        if not len(rd) or not len(cd):
            continue
        iou = box_iou(rd[:, :4], cd[:, :4]) * (rl[:, None] == cl[None])
        while iou.size and iou.max() > 0:
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
    """How closely ``candidate`` outputs follow ``reference`` ones: top-1 agreement of logits
    (classification), mean IoU of matched boxes (detection, :func:`matched_box_iou`) or pixel
    agreement of label maps (segmentation). The outputs are per image, as the runtimes return
    them (lists of output arrays of batch 1, or arrays stacked over the images)."""
    check_choice('task', task, TASKS)
    if task == 'classification':
        return top1_agreement(_stack(reference), _stack(candidate))
    if task == 'segmentation':
        return pixel_agreement(_stack(reference), _stack(candidate))
    per_image = lambda outs: [(o[0][0], o[1][0]) for o in outs]
    return matched_box_iou(per_image(reference), per_image(candidate), **kwargs)


def _stack(outputs):
    if isinstance(outputs, np.ndarray):
        return outputs
    return np.concatenate([o[0] if isinstance(o, (list, tuple)) else o for o in outputs])
