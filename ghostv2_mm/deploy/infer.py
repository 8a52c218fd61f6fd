"""Run a deployed detector, segmentor or classifier on an image with only its runtime, numpy and
OpenCV (no PyTorch, no OpenMMLab library), and draw the result.

    python -m ghostv2_mm.deploy.infer WORK_DIR IMAGE [--out OUT.png] [--score-thr 0.3]
        [--threads N]

WORK_DIR is a ``tools/deployment/deploy.py`` output (``deploy.json``, ``pipeline.json``, the
model file and, for ncnn and LiteRT, its ``<file>.io.json``); docs/deployment.md is the manual.
"""
import argparse
import math
import os.path as osp
import sys

import cv2
import numpy as np

from ..errors import DeployError
from .runtime import BACKENDS, RuntimeModel, read_json

TASKS = ('Detector', 'Segmentor', 'Classifier')
INTERPOLATION = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR,
                 'bicubic': cv2.INTER_CUBIC, 'area': cv2.INTER_AREA,
                 'lanczos': cv2.INTER_LANCZOS4}


class Preprocess:
    """mmdeploy's SDK pre-processing (``pipeline.json``'s transforms) of a BGR uint8 image into a
    (1, 3, H, W) float32 array.

    Args:
        transforms (list[dict]): The transforms of ``pipeline.json``.
    """
    IGNORED = ('LoadImageFromFile', 'DefaultFormatBundle', 'ImageToTensor', 'Collect',
               'PackDetInputs', 'PackSegInputs')
    METHODS = {'Resize': 'resize', 'CenterCrop': 'center_crop', 'Normalize': 'normalize',
               'Pad': 'pad'}

    def __init__(self, transforms):
        self.steps = []
        for t in transforms:
            kind = t['type'].split('.')[-1]
            if kind in self.IGNORED:
                continue
            if kind not in self.METHODS:
                raise DeployError(f'pipeline.json: transform {kind} is not supported here')
            self.steps.append((getattr(self, self.METHODS[kind]), t))

    def __call__(self, img):
        """Returns the input array and ``ori_shape``, ``img_shape``, ``scale_factor`` (w, h)."""
        meta = dict(ori_shape=img.shape[:2], img_shape=img.shape[:2], scale_factor=(1., 1.))
        for step, t in self.steps:
            img = step(img, t, meta)
        return np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32), meta

    @staticmethod
    def resize(img, t, meta):
        h, w = img.shape[:2]
        size = t.get('size') or t.get('scale')
        if isinstance(size, int):
            size = (size, size)
        if t.get('keep_ratio', False) and -1 in size:
            # mmpretrain's ResizeEdge (short edge), which mmdeploy writes as size (scale, -1).
            scale = max(size)
            new_w, new_h = (scale, int(scale * h / w)) if w < h else (int(scale * w / h), scale)
        elif t.get('keep_ratio', False):
            # mmcv's rescale: the long side fits max(size), the short side min(size).
            scale = min(max(size) / max(h, w), min(size) / min(h, w))
            new_w, new_h = int(w * scale + 0.5), int(h * scale + 0.5)
        else:
            new_w, new_h = size  # mmdeploy writes (w, h)
        interpolation = INTERPOLATION[t.get('interpolation', 'bilinear')]
        out = cv2.resize(img, (new_w, new_h), interpolation=interpolation)
        meta['img_shape'] = (new_h, new_w)
        meta['scale_factor'] = (new_w / w, new_h / h)
        return out

    @staticmethod
    def center_crop(img, t, meta):
        size = t['crop_size']
        crop_w, crop_h = (size, size) if isinstance(size, int) else size
        h, w = img.shape[:2]
        y1, x1 = max(0, int(round((h - crop_h) / 2.))), max(0, int(round((w - crop_w) / 2.)))
        img = img[y1:y1 + crop_h, x1:x1 + crop_w]
        meta['img_shape'] = img.shape[:2]
        return img

    @staticmethod
    def normalize(img, t, meta):
        img = img.astype(np.float32)
        if t.get('to_rgb', False):
            img = img[..., ::-1]
        return (img - np.asarray(t['mean'], np.float32)) / np.asarray(t['std'], np.float32)

    @staticmethod
    def pad(img, t, meta):
        h, w = img.shape[:2]
        if t.get('size'):
            tw, th = t['size']  # mmdeploy writes (w, h)
        else:
            d = t.get('size_divisor', 1)
            th, tw = -(-h // d) * d, -(-w // d) * d
        value = t.get('pad_val', 0)
        value = value.get('img', 0) if isinstance(value, dict) else value
        return cv2.copyMakeBorder(img, 0, th - h, 0, tw - w, cv2.BORDER_CONSTANT,
                                  value=(value, ) * 3) if (th, tw) != (h, w) else img


class Deployment:
    """A deployed detector, segmentor or classifier from a ``deploy.py`` work dir.

    Args:
        work_dir (str): The directory ``tools/deployment/deploy.py`` wrote.
        threads (int, optional): Runtime threads; all cores when None.
    """

    def __init__(self, work_dir, threads=None):
        if not osp.isdir(work_dir):
            raise DeployError(f'WORK_DIR {work_dir} is not a directory')
        hint = ' (WORK_DIR must be a deploy.py output)'
        info = read_json(osp.join(work_dir, 'deploy.json'), hint)
        pipeline = read_json(osp.join(work_dir, 'pipeline.json'), hint)
        try:
            self.task = info['task']
            model = info['models'][0]
            self.backend, self.precision = model['backend'], model.get('precision', 'FP32')
            self.model_file = osp.join(work_dir, model['net'])
            tasks = pipeline['pipeline']['tasks']
            transforms = tasks[0]['transforms']
        except (KeyError, IndexError, TypeError) as e:
            raise DeployError(f'{work_dir}: deploy.json or pipeline.json is not as deploy.py '
                              f'writes it ({type(e).__name__}: {e})') from None
        if self.task not in TASKS:
            raise DeployError(f'{work_dir}/deploy.json: task {self.task} is not one of {TASKS}')
        if not osp.isfile(self.model_file):
            raise DeployError(f'{self.model_file} (named by {work_dir}/deploy.json) does not '
                              'exist')
        self.classes = info.get('classes')
        self.palette = info.get('palette')
        self.preprocess = Preprocess(transforms)
        # The model's test_cfg (mask_thr_binary) as mmdeploy records it for its SDK.
        self.postprocess = next((t.get('params', {}) for t in tasks
                                 if t.get('name') == 'postprocess'), {})
        if self.backend not in BACKENDS:
            raise DeployError(f'deploy.json: backend {self.backend} is not one of {BACKENDS}')
        self.model = RuntimeModel(self.model_file, self.backend, threads=threads)
        self.input_shape = self.model.input_shape

    def run(self, x):
        """The raw outputs of the runtime for the input array ``x``, by output name."""
        return self.model(x)

    def __call__(self, image):
        """Predict on ``image`` (a file name or a BGR uint8 (H, W, 3) array): a detector's
        ``bboxes``, ``scores``, ``labels`` (and ``masks``) in image pixels, a segmentor's
        ``sem_seg``, a classifier's ``pred_score`` and ``pred_label``."""
        x, meta = self.preprocess(read_image(image))
        return predictions(self.task, self.run(x), meta, self.postprocess)

    def name(self, label):
        return self.classes[label] if self.classes and label < len(self.classes) else str(label)

    def draw(self, image, result, score_thr=0.3):
        """``image`` (BGR) with ``result`` drawn on it."""
        img = read_image(image).copy()
        if self.task == 'Classifier':
            label = result['pred_label']
            cv2.putText(img, f'{self.name(label)} {result["pred_score"][label]:.2f}', (2, 12),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 255), 1, cv2.LINE_AA)
            return img
        colors = self.palette or np.random.default_rng(0).integers(0, 255, (256, 3)).tolist()
        if self.task == 'Detector':
            for i, (box, score, label) in enumerate(zip(result['bboxes'], result['scores'],
                                                        result['labels'])):
                if score < score_thr:
                    continue
                color = tuple(int(c) for c in colors[label % len(colors)][::-1])
                if 'masks' in result:
                    mask = result['masks'][i]
                    img[mask] = (0.5 * img[mask] + 0.5 * np.array(color)).astype(np.uint8)
                x1, y1, x2, y2 = (int(round(v)) for v in box)
                cv2.rectangle(img, (x1, y1), (x2, y2), color, 2)
                cv2.putText(img, f'{self.name(label)} {score:.2f}', (x1, max(y1 - 3, 10)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
            return img
        seg = result['sem_seg']
        lut = np.array([colors[i % len(colors)][::-1] for i in range(int(seg.max()) + 1)],
                       np.uint8)
        return cv2.addWeighted(img, 0.5, lut[seg], 0.5, 0)

    def describe(self, result, score_thr=0.3):
        if self.task == 'Classifier':
            order = np.argsort(-result['pred_score'])[:5]
            return 'top-1 ' + self.name(result['pred_label']) + '; scores: ' + ', '.join(
                f'{self.name(int(i))} {result["pred_score"][i]:.3f}' for i in order)
        if self.task == 'Detector':
            keep = result['scores'] >= score_thr
            lines = [f'{int(keep.sum())} boxes with score >= {score_thr}' +
                     (' (with masks)' if 'masks' in result else '')]
            lines += [f'  {self.name(int(lab))} {s:.3f} [{", ".join(f"{v:.1f}" for v in b)}]'
                      for b, s, lab in zip(result['bboxes'][keep], result['scores'][keep],
                                           result['labels'][keep])]
            return '\n'.join(lines)
        values, counts = np.unique(result['sem_seg'], return_counts=True)
        return 'label map: ' + ', '.join(
            f'{self.name(int(v))} {c / result["sem_seg"].size:.1%}'
            for v, c in sorted(zip(values, counts), key=lambda vc: -vc[1]))


def resize_maps(maps, size):
    """(C, H, W) float maps resized bilinearly to ``size`` (h, w) as PyTorch's ``interpolate``
    (``align_corners=False``); OpenCV takes at most 512 channels at a time."""
    h, w = size
    if len(maps) == 0:
        return np.zeros((0, h, w), np.float32)
    chunks = [cv2.resize(np.ascontiguousarray(maps[i:i + 512].transpose(1, 2, 0)), (w, h),
                         interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
              for i in range(0, len(maps), 512)]
    return np.concatenate(chunks, -1).transpose(2, 0, 1)


def predictions(task, outputs, meta, postprocess=None):
    """The result of :meth:`Deployment.__call__` from the raw ``outputs`` of a ``task`` for one
    image of ``meta``; mask and segmentation logits are resized bilinearly before they are
    binarised (``postprocess['mask_thr_binary']``) or arg-maxed, as mmdet and mmseg do."""
    if task == 'Classifier':
        scores = next(iter(outputs.values()))[0].astype(np.float32)
        return dict(pred_score=scores, pred_label=int(scores.argmax()))
    ori_h, ori_w = meta['ori_shape']
    if task == 'Detector':
        dets, labels = outputs['dets'][0], outputs['labels'][0]
        keep = dets[:, 4] > 0  # rows the graph pads with
        w_scale, h_scale = meta['scale_factor']
        boxes = dets[keep, :4] / np.array([w_scale, h_scale, w_scale, h_scale], np.float32)
        result = dict(bboxes=boxes, scores=dets[keep, 4], labels=labels[keep].astype(np.int64))
        if 'masks' in outputs:  # mask logits at the input's size (mmdet's RTMDet-Ins rescaling)
            logits = outputs['masks'][0][keep].astype(np.float32)
            logits = resize_maps(logits, (math.ceil(logits.shape[-2] / h_scale),
                                          math.ceil(logits.shape[-1] / w_scale)))
            threshold = (postprocess or {}).get('mask_thr_binary', 0.5)
            with np.errstate(over='ignore'):  # exp of large logits: sigmoid 0, as it should
                result['masks'] = 1 / (1 + np.exp(-logits[:, :ori_h, :ori_w])) > threshold
        return result
    seg = next(iter(outputs.values()))[0]
    h, w = meta['img_shape']
    if seg.ndim == 3 and seg.shape[0] > 1:  # logits: resized, then the arg-max (mmseg)
        return dict(sem_seg=resize_maps(seg[:, :h, :w].astype(np.float32),
                                        (ori_h, ori_w)).argmax(0))
    seg = seg[0] if seg.ndim == 3 else seg
    return dict(sem_seg=cv2.resize(seg[:h, :w].astype(np.float32), (ori_w, ori_h),
                                   interpolation=cv2.INTER_NEAREST).astype(np.int64))


def read_image(image, argument='IMAGE'):
    """A BGR uint8 (H, W, 3) image from a file name or an array; errors name ``argument``."""
    if isinstance(image, str):
        if not osp.isfile(image):
            raise DeployError(f'{argument} {image} does not exist')
        img = cv2.imread(image, cv2.IMREAD_COLOR)
        if img is None:
            raise DeployError(f'{argument} {image} is not an image OpenCV can read')
        return img
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise DeployError(f'{argument} must be a uint8 image, but received dtype {img.dtype}')
    if img.ndim != 3 or img.shape[2] != 3:
        raise DeployError(f'{argument} must be an (H, W, 3) BGR image, but received shape '
                          f'{img.shape}')
    return img


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m ghostv2_mm.deploy.infer', description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dir', help='directory written by tools/deployment/deploy.py')
    parser.add_argument('image', help='image file')
    parser.add_argument('--out', help='where to write the drawn result')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='boxes drawn and listed from this score')
    parser.add_argument('--threads', type=int, help='runtime threads (default: all cores)')
    args = parser.parse_args(argv)
    try:
        deployment = Deployment(args.work_dir, args.threads)
        result = deployment(args.image)
    except DeployError as e:
        sys.exit(f'error: {e}')
    print(f'{deployment.backend} {deployment.precision} {osp.basename(deployment.model_file)}: '
          f'{deployment.describe(result, args.score_thr)}')
    if args.out:
        if not cv2.imwrite(args.out, deployment.draw(args.image, result, args.score_thr)):
            sys.exit(f'error: --out {args.out} could not be written')
        print(f'drew {args.out}')


if __name__ == '__main__':
    main()
