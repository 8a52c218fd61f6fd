"""Annotation checks before a run: what mmdet's ``CocoDataset`` drops silently is named in a
warning; what would crash the run later or train on nothing (a missing image or label map, no
annotations, classes not in the file, labels the model cannot learn) stops it with one line."""
import json
import logging
import os
import os.path as osp
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module

import numpy as np
from mmengine.logging import print_log

from ..errors import DataError

COCO_KEYS = ('id', 'image_id', 'category_id', 'bbox', 'area')
# Why CocoDataset skips an annotation, in the order of its parse_data_info (missing image: never
# read, as it loads annotations per image).
SKIPPED = ('an image_id that is not among the images',
           'a box of zero or negative size (w or h < 1, or area <= 0)',
           'a box outside their image', 'an unknown category_id')


def _few(items, n=5):
    items = list(items)
    return ', '.join(map(str, items[:n])) + (f' and {len(items) - n} more' * (len(items) > n))


def _ranges(values):
    """``'0..149, 255'`` of the sorted int array ``values``."""
    runs = np.split(values, np.flatnonzero(np.diff(values) != 1) + 1)
    return ', '.join(f'{r[0]}..{r[-1]}' if r.size > 1 else f'{r[0]}' for r in runs if r.size)


def check_annotations(cfg, dataset_cfg, loader):
    """Check the annotations of ``dataset_cfg`` (a dataset of the run ``cfg``, wrappers removed,
    read by the loader named ``loader``): COCO files of mmdet's ``CocoDataset`` family
    (:func:`check_coco`) and label maps of mmseg's ``BaseSegDataset`` family against
    ``model.decode_head`` (:func:`check_seg_maps`); other datasets pass."""
    cls = dataset_cfg['type']
    if isinstance(cls, str):
        try:
            registry = import_module(f"{cfg.get('default_scope') or 'mmengine'}.registry")
            cls = registry.DATASETS.get(cls)
        except (ImportError, AttributeError):  # a scope without datasets of its own
            return
    coco = getattr(sys.modules.get('mmdet.datasets'), 'CocoDataset', None)
    seg = getattr(sys.modules.get('mmseg.datasets'), 'BaseSegDataset', None)
    is_coco = coco is not None and getattr(cls, 'parse_data_info', None) is coco.parse_data_info
    if not (is_coco or (seg and isinstance(cls, type) and issubclass(cls, seg))):
        return
    args = {k: v for k, v in dataset_cfg.items() if k not in ('type', '_scope_')}
    dataset = cls(**dict(args, pipeline=[], lazy_init=True))  # paths and classes as it sees them
    if is_coco:
        return check_coco(dataset, loader)
    head = cfg.get('model', {}).get('decode_head') or {}
    head = head[-1] if isinstance(head, list) else head
    check_seg_maps(dataset, head.get('num_classes', len(dataset.metainfo['classes'])),
                   head.get('ignore_index', 255), loader)


def check_coco(dataset, loader):
    """Read ``dataset.ann_file`` (``lazy_init=True``) as ``CocoDataset`` does and warn, naming
    ids, about the annotations (``SKIPPED``) and images (``filter_cfg``) it drops.

    Raises:
        DataError: no images or annotations, annotations without a key of ``COCO_KEYS``, classes not
            among the categories, missing image files, or no image left after ``filter_cfg``.
    """
    with open(dataset.ann_file) as f:
        data = json.load(f)
    name = f'{loader}: {dataset.ann_file}'
    images = {im['id']: im for im in data.get('images', [])}
    anns = data.get('annotations')
    for key, empty in (('images', not images),
                       ('annotations', anns == [] or (anns is None and not dataset.test_mode))):
        if empty:
            raise DataError(f'{name} has no {key} ("{key}" is empty or absent)')
    anns = anns or []
    lacking = [a.get('id') for a in anns if any(k not in a for k in COCO_KEYS)]
    if lacking:
        raise DataError(f'{name}: {len(lacking)} annotations lack one of the keys {COCO_KEYS}: '
                        f'ids {_few(lacking)}')
    categories = {c['name']: c['id'] for c in data.get('categories', [])}
    classes = dataset.metainfo.get('classes') or ()
    absent = [c for c in classes if c not in categories]
    if absent:
        raise DataError(f"{name}: {len(absent)} of the dataset's {len(classes)} classes are not "
                        f'among its categories: {_few(absent)}; its categories are '
                        f'{_few(categories, 10)} (set metainfo=dict(classes=...))')
    img_dir = dataset.data_prefix.get('img', '')
    missing = [f"{i} ({im['file_name']})" for i, im in images.items()
               if not osp.isfile(osp.join(img_dir, im['file_name']))]
    if missing:
        raise DataError(f'{name}: {len(missing)} of its {len(images)} images are not in '
                        f'{img_dir}: image ids {_few(missing)}')
    skipped, known = ([], [], [], []), set(categories.values())
    for a in anns:
        im, (x, y, w, h) = images.get(a['image_id']), a['bbox']
        this = f"{a['id']} (image {a['image_id']}"
        if im is None:
            skipped[0].append(f"{a['id']} (image_id {a['image_id']})")
        elif a.get('ignore', False):
            continue
        elif w < 1 or h < 1 or a['area'] <= 0:
            skipped[1].append(f"{this}, bbox {a['bbox']})")
        elif min(x + w, im['width']) <= max(x, 0) or min(y + h, im['height']) <= max(y, 0):
            skipped[2].append(f"{this}, bbox {a['bbox']}, image {im['width']}x{im['height']})")
        elif a['category_id'] not in known:
            skipped[3].append(f"{this}, category_id {a['category_id']})")
    for reason, ids in zip(SKIPPED, skipped):
        if ids:
            print_log(f'{name}: mmdet skips {len(ids)} annotations with {reason}: annotation '
                      f'ids {_few(ids)}', logger='current', level=logging.WARNING)
    fcfg = dataset.filter_cfg or {}
    if dataset.test_mode or not fcfg:
        return
    cat_ids = {categories[c] for c in classes}
    with_gt = {a['image_id'] for a in anns if a['category_id'] in cat_ids}
    empty = [i for i in images if fcfg.get('filter_empty_gt') and i not in with_gt]
    small = [i for i, im in images.items() if min(im['width'], im['height']) <
             fcfg.get('min_size', 0) and i not in empty]
    for ids, why in ((empty, "no annotation of the dataset's classes (filter_empty_gt)"),
                     (small, f"a side under filter_cfg.min_size={fcfg.get('min_size')}")):
        if ids:
            print_log(f'{name}: mmdet skips {len(ids)} of its {len(images)} images with {why}: '
                      f'image ids {_few(ids)}', logger='current', level=logging.WARNING)
    if len(empty) + len(small) == len(images):
        raise DataError(f'{name}: filter_cfg {dict(fcfg)} leaves none of its images')


def _file_values(path):
    from PIL import Image
    with Image.open(path) as img:
        a = np.asarray(img)
    return np.flatnonzero(np.bincount(a.ravel())) if a.dtype == np.uint8 else np.unique(a)


def check_seg_maps(dataset, num_classes, ignore_index, loader):
    """Read every label map of ``dataset`` (``lazy_init=True``; PIL, as mmseg's
    ``LoadAnnotations``) and map its values as training does (uint8, ``reduce_zero_label``,
    ``label_map``).

    Raises:
        DataError: missing label maps, or maps with values that become labels outside
            ``0..num_classes - 1`` other than ``ignore_index``; it names the files and values.
    """
    paths = [d['seg_map_path'] for d in dataset.load_data_list() if d.get('seg_map_path')]
    seg_dir = dataset.data_prefix.get('seg_map_path', '')
    missing = [osp.relpath(p, seg_dir) for p in paths if not osp.isfile(p)]
    if missing:
        raise DataError(f'{loader}: {len(missing)} of {len(paths)} label maps are not in '
                        f'{seg_dir}: {_few(missing)}')
    lut = np.arange(256)
    if dataset.reduce_zero_label:
        lut = np.where((lut == 0) | (lut == 255), 255, lut - 1)
    lut = np.array([(dataset.label_map or {}).get(v, v) for v in lut])
    ok = (lut < num_classes) | (lut == ignore_index)
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        values = list(pool.map(_file_values, paths))
    bad = [(p, v[(v < 0) | (v > 255) | ~ok[np.clip(v, 0, 255)]]) for p, v in zip(paths, values)]
    bad = [f'{osp.relpath(p, seg_dir)} {v.tolist()}' for p, v in bad if v.size]
    if bad:
        raise DataError(
            f'{loader}: {len(bad)} of {len(paths)} label maps in {seg_dir} hold values other than '
            f'{_ranges(np.flatnonzero(ok))} (num_classes={num_classes}, ignore_index='
            f'{ignore_index}, reduce_zero_label={dataset.reduce_zero_label}): {_few(bad)}')
