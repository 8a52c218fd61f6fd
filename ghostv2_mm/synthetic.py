"""Small, deterministic datasets of shapes on textured backgrounds in the layouts of ImageNet,
COCO and ADE20K, for end-to-end runs on a CPU. Every image is drawn from its own seed; datasets are
cached outside the repository (``GHOSTV2_MM_CACHE``, docs/get_started.md) and reused."""
import functools
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np

from .errors import ConfigError, DataError
from .utils import cache_dir

CLASSES = ('disk', 'square', 'triangle', 'star', 'cross', 'ring')
VERSION = 4
JPEG = [cv2.IMWRITE_JPEG_QUALITY, 95]
# Polygon shapes: vertices and, for a star, the inner radius.
POLYGONS = {'square': (4, None), 'triangle': (3, None), 'star': (5, 0.45)}


def _color(rng, cls):
    """A saturated BGR colour in the hue band of class ``cls``: colour is a cue that CPU-sized
    trainings pick up in a few hundred iterations, the outline is the second one."""
    hue = (cls * 180 / len(CLASSES) + rng.uniform(-8, 8)) % 180
    hsv = np.uint8([[[hue, rng.uniform(170, 255), rng.uniform(130, 255)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float64)


def _background(rng, h, w):
    """Smooth, muted colour noise plus faint stripes."""
    low = rng.integers(60, 196, size=(max(h // 64, 2), max(w // 64, 2), 3)).astype(np.uint8)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 24)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    img += stripes[..., None] * rng.uniform(0, 15) + rng.normal(0, 6, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _draw_shape(shape, cls, cx, cy, r, rotation):
    """The boolean mask of ``shape`` (H, W) of shape ``cls`` with circumradius ``r``."""
    mask, name = np.zeros(shape, np.uint8), CLASSES[cls]
    if name in ('disk', 'ring'):
        thickness = -1 if name == 'disk' else max(int(r * 0.35), 2)
        cv2.circle(mask, (int(cx), int(cy)), int(r), 1, thickness, cv2.LINE_AA)
        return mask.astype(bool)
    if name in POLYGONS:  # a star alternates outer and inner vertices
        n, inner = POLYGONS[name]
        angles = rotation + np.arange(n * (2 if inner else 1)) * np.pi / (n if inner else n / 2)
        radii = r * np.where(np.arange(len(angles)) % 2, inner or 1.0, 1.0)
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    else:  # cross: a 12-gon of two bars
        a, b = r, r * 0.33
        base = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a],
                         [-b, a], [-b, b], [-a, b], [-a, -b], [-b, -b]])
        rot = np.array([[np.cos(rotation), -np.sin(rotation)],
                        [np.sin(rotation), np.cos(rotation)]])
        pts = base @ rot.T + [cx, cy]
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1, cv2.LINE_AA)
    return mask.astype(bool)


def render(seed, size, max_objects=4, min_radius=12, overlap=True):
    """Render one image: a BGR uint8 image and ``[(cls, mask)]``, the boolean mask of each
    object's visible part (later objects occlude earlier ones). Without ``overlap``, a shape whose
    circle meets an earlier one's is placed again (up to 20 tries) or left out."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = _background(rng, h, w)
    objects, circles = [], []
    for _ in range(rng.integers(1, max_objects + 1)):
        cls = int(rng.integers(len(CLASSES)))
        r = rng.uniform(min_radius, min(h, w) // 3)
        for _ in range(1 if overlap else 20):
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
            if overlap or all(np.hypot(cx - x, cy - y) > r + q for x, y, q in circles):
                break
        else:
            continue
        circles.append((cx, cy, r))
        mask = _draw_shape((h, w), cls, cx, cy, r, rng.uniform(0, np.pi))
        if mask.sum() < 30:
            continue
        color = _color(rng, cls)
        shade = rng.normal(0, 10, size=(h, w, 1))
        img[mask] = np.clip(color + shade[mask], 0, 255).astype(np.uint8)
        for _, other in objects:
            other &= ~mask
        objects.append((cls, mask))
    return img, [(c, m) for c, m in objects if m.sum() >= 30]


def _cached(name):
    """Decorator of a function that writes a dataset into the empty folder ``root``: the call
    writes it into ``root`` (None: ``<cache>/<name>_v<VERSION>``) unless a finished one (marked
    by ``.complete``) is there, and returns ``root``."""
    def decorator(write):
        @functools.wraps(write)
        def make(root=None, *args, **kwargs):
            root = root or osp.join(cache_dir(), 'data', f'{name}_v{VERSION}')
            if osp.exists(osp.join(root, '.complete')):
                return root
            if osp.exists(root):
                shutil.rmtree(root)
            os.makedirs(root)
            write(root, *args, **kwargs)
            with open(osp.join(root, '.complete'), 'w') as f:
                f.write(str(VERSION))
            return root
        return make
    return decorator


@_cached('shapes_cls')
def make_classification(root=None, num_train=300, num_val=50, size=64):
    """ImageNet folder layout: ``{train,val}/<class>/<id>.JPEG``, one centred shape per image.
    Returns the dataset root."""
    for split, n, offset in (('train', num_train, 0), ('val', num_val, 10**6)):
        for cls, name in enumerate(CLASSES):
            os.makedirs(osp.join(root, split, name))
            for i in range(n):
                rng = np.random.default_rng(offset + cls * 10**4 + i + 7 * 10**6)
                img = _background(rng, size, size)
                r = rng.uniform(size * 0.22, size * 0.42)
                c = rng.uniform(r, size - r, size=2)
                mask = _draw_shape((size, size), cls, c[0], c[1], r, rng.uniform(0, np.pi))
                img[mask] = _color(rng, cls)
                cv2.imwrite(osp.join(root, split, name, f'{i:05d}.JPEG'), img, JPEG)


def mask_polygons(mask):
    """COCO polygons (``[[x0, y0, x1, y1, ...], ...]``, one per connected part) of a boolean
    mask. Polygons, not RLE: mmdet's instance-segmentation pipelines (``poly2mask=False``) ignore
    RLE instances. COCO unions a mask's polygons, so a hole (the ring's) is cut open with a slit
    one pixel wide from its top to the image border, which keeps it out of the mask."""
    mask = mask.astype(np.uint8)
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    for contour, (_, _, _, parent) in zip(contours, hierarchy[0]):
        if parent >= 0:  # a hole: open it upwards
            x, y = contour[contour[:, 0, 1].argmin(), 0]
            mask[:y + 1, x] = 0
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # OpenCV's contours run through boundary pixels' indices, COCO's coordinates through their
    # corners: + 0.5 puts the polygon at their centres (mean IoU with the mask 0.94-0.98 per class).
    return [(c.reshape(-1) + 0.5).tolist() for c in contours if len(c) >= 3]


@_cached('shapes_det')
def make_detection(root=None, num_train=640, num_val=100, size=320):
    """COCO layout: ``images/{train,val}/*.jpg`` and ``annotations/instances_{train,val}.json``
    with the box and polygon mask of every object; one to three shapes per image, 32 to 213 px
    across at 320, that do not overlap (occluded fragments would need far longer CPU trainings).
    Returns the dataset root."""
    os.makedirs(osp.join(root, 'annotations'))
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)]
    for split, n, offset in (('train', num_train, 0), ('val', num_val, 10**6)):
        os.makedirs(osp.join(root, 'images', split))
        images, annotations = [], []
        for i in range(n):
            img, objects = render(offset + i, (size, size), max_objects=3,
                                  min_radius=size / 20, overlap=False)
            name = f'{i:05d}.jpg'
            cv2.imwrite(osp.join(root, 'images', split, name), img, JPEG)
            images.append(dict(id=i, file_name=name, height=size, width=size))
            for cls, mask in objects:
                box = [float(v) for v in cv2.boundingRect(mask.astype(np.uint8))]
                annotations.append(dict(id=len(annotations) + 1, image_id=i, category_id=cls + 1,
                                        bbox=box, area=float(mask.sum()),
                                        segmentation=mask_polygons(mask), iscrowd=0))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)


@_cached('shapes_seg')
def make_segmentation(root=None, num_train=200, num_val=50, size=(160, 224)):
    """ADE20K layout: ``{images,annotations}/{training,validation}/*.{jpg,png}``. Label 0 is
    "unlabelled" (a 1-pixel band around every shape, ignored under ``reduce_zero_label``), 1 is
    background and ``2 + i`` is ``CLASSES[i]``. Returns the dataset root."""
    kernel = np.ones((3, 3), np.uint8)
    for split, n, offset in (('training', num_train, 0), ('validation', num_val, 10**6)):
        for folder in ('images', 'annotations'):
            os.makedirs(osp.join(root, folder, split))
        for i in range(n):
            img, objects = render(offset + i + 5 * 10**6, size)
            label = np.ones(size, np.uint8)
            for cls, mask in objects:
                label[mask] = cls + 2
                edge = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, kernel) > 0
                label[edge] = 0
            cv2.imwrite(osp.join(root, 'images', split, f'{i:05d}.jpg'), img, JPEG)
            cv2.imwrite(osp.join(root, 'annotations', split, f'{i:05d}.png'), label)


MAKERS = {'cls': make_classification, 'det': make_detection, 'seg': make_segmentation}


def link(kind, data_dir='data'):
    """Generate (or reuse) dataset ``kind`` (a key of ``MAKERS``) in the cache and point
    ``<data_dir>/shapes_<kind>`` at it, where the *_shapes.py configs read it.

    Returns:
        tuple[str, str]: The link and the dataset it points to.

    Raises:
        ConfigError: an unknown ``kind``.
        DataError: ``<data_dir>/shapes_<kind>`` exists and is not a link.
    """
    if kind not in MAKERS:
        raise ConfigError(f'kind must be one of {tuple(MAKERS)}, but received {kind!r}')
    target = MAKERS[kind]()
    os.makedirs(data_dir, exist_ok=True)
    name = osp.join(data_dir, f'shapes_{kind}')
    if osp.islink(name):
        os.remove(name)
    elif osp.exists(name):
        raise DataError(f'{name} exists and is not a link; move it away first')
    os.symlink(target, name)
    return name, target
