"""check_data on bad annotations: what mmdet's CocoDataset skips is named in a warning, what would
crash or train on nothing stops the run with one line; label maps beyond num_classes stop it."""
import io
import itertools
import json
import logging
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.logging import MMLogger

from ghostv2_mm.engine.runner_setup import check_data
from ghostv2_mm.errors import DataError

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_loggers = itertools.count()


@pytest.fixture
def log():
    """The warnings printed through a new current MMLogger, one a line."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setLevel(logging.WARNING)
    MMLogger.get_instance(f'data_checks_{next(_loggers)}').addHandler(handler)
    return handler.stream.getvalue


def coco(tmp_path, edit=None, filter_cfg=dict(filter_empty_gt=True, min_size=32)):
    """Three 64x64 images, two boxes each of classes 'a' (id 1) and 'b' (id 2), after
    ``edit(data)``; the config of a CocoDataset train loader over them."""
    (tmp_path / 'images').mkdir(exist_ok=True)
    images, anns = [], []
    for i in range(3):
        cv2.imwrite(str(tmp_path / 'images' / f'{i}.jpg'), np.zeros((64, 64, 3), np.uint8))
        images.append(dict(id=i, file_name=f'{i}.jpg', width=64, height=64))
        anns += [dict(id=10 * i + k, image_id=i, category_id=k, bbox=[4, 4, 20, 30], area=600.0,
                      iscrowd=0) for k in (1, 2)]
    data = dict(images=images, annotations=anns, categories=[dict(id=1, name='a'),
                                                             dict(id=2, name='b')])
    if edit:
        edit(data)
    (tmp_path / 'ann.json').write_text(json.dumps(data))
    dataset = dict(type='CocoDataset', data_root=str(tmp_path), ann_file='ann.json',
                   data_prefix=dict(img='images/'), metainfo=dict(classes=('a', 'b')),
                   filter_cfg=filter_cfg, pipeline=[])
    return Config(dict(default_scope='mmdet', train_dataloader=dict(dataset=dataset)))


def warnings_of(cfg, log):
    check_data(cfg, ['train_dataloader'])
    return log().splitlines()


def test_good_file_passes_silently(tmp_path, log):
    assert warnings_of(coco(tmp_path), log) == []


def test_box_of_zero_or_negative_size_is_named(tmp_path, log):
    def edit(data):
        data['annotations'][0]['bbox'][2] = 0
        data['annotations'][3]['bbox'][3] = -5
    ann = f'train_dataloader: {tmp_path}/ann.json'
    assert warnings_of(coco(tmp_path, edit), log) == [
        f'{ann}: mmdet skips 2 annotations with a box of zero or negative size (w or h < 1, or '
        'area <= 0): annotation ids 1 (image 0, bbox [4, 4, 0, 30]), 12 (image 1, bbox [4, 4, 20, '
        '-5])']


def test_box_outside_its_image_is_named(tmp_path, log):
    def edit(data):
        data['annotations'][5]['bbox'] = [70, 4, 20, 30]
    assert warnings_of(coco(tmp_path, edit), log) == [
        f'train_dataloader: {tmp_path}/ann.json: mmdet skips 1 annotations with a box outside '
        'their image: annotation ids 22 (image 2, bbox [70, 4, 20, 30], image 64x64)']


def test_unknown_category_and_the_image_it_empties_are_named(tmp_path, log):
    def edit(data):  # image 1 keeps one annotation, of category 7
        data['annotations'][2]['category_id'] = 7
        del data['annotations'][3]
    ann = f'train_dataloader: {tmp_path}/ann.json'
    assert warnings_of(coco(tmp_path, edit), log) == [
        f'{ann}: mmdet skips 1 annotations with an unknown category_id: annotation ids 11 '
        '(image 1, category_id 7)',
        f"{ann}: mmdet skips 1 of its 3 images with no annotation of the dataset's classes "
        '(filter_empty_gt): image ids 1']


def test_annotation_of_a_missing_image_is_named(tmp_path, log):
    def edit(data):
        data['annotations'][4]['image_id'] = 99
    assert warnings_of(coco(tmp_path, edit), log) == [
        f'train_dataloader: {tmp_path}/ann.json: mmdet skips 1 annotations with an image_id that '
        'is not among the images: annotation ids 21 (image_id 99)']


def test_missing_image_file_stops(tmp_path, log):
    def edit(data):
        data['images'][1]['file_name'] = 'gone.jpg'
    with pytest.raises(DataError) as e:
        check_data(coco(tmp_path, edit), ['train_dataloader'])
    assert str(e.value) == (f'train_dataloader: {tmp_path}/ann.json: 1 of its 3 images are not '
                            f'in {tmp_path}/images/: image ids 1 (gone.jpg)')


@pytest.mark.parametrize('filter_cfg', [dict(filter_empty_gt=True), None])
def test_empty_annotations_stop(tmp_path, log, filter_cfg):
    with pytest.raises(DataError) as e:
        check_data(coco(tmp_path, lambda d: d['annotations'].clear(), filter_cfg),
                   ['train_dataloader'])
    assert str(e.value) == (f'train_dataloader: {tmp_path}/ann.json has no annotations '
                            '("annotations" is empty or absent)')


def test_classes_not_among_the_categories_stop(tmp_path, log):
    def edit(data):
        data['categories'][1]['name'] = 'B'
    with pytest.raises(DataError) as e:
        check_data(coco(tmp_path, edit), ['train_dataloader'])
    assert str(e.value) == (f"train_dataloader: {tmp_path}/ann.json: 1 of the dataset's 2 classes "
                            'are not among its categories: b; its categories are a, B (set '
                            'metainfo=dict(classes=...))')


def test_images_under_min_size_are_named_and_none_left_stops(tmp_path, log):
    def edit(data):
        data['images'][0]['width'] = 20
    assert warnings_of(coco(tmp_path, edit), log) == [
        f'train_dataloader: {tmp_path}/ann.json: mmdet skips 1 of its 3 images with a side under '
        'filter_cfg.min_size=32: image ids 0']
    with pytest.raises(DataError, match=r"filter_cfg \{'min_size': 100\} leaves none"):
        check_data(coco(tmp_path, filter_cfg=dict(min_size=100)), ['train_dataloader'])


def seg_config(root, reduce_zero_label):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mmseg/deeplabv3_ghostv2_shapes.py'))
    for loader in ('train_dataloader', 'val_dataloader'):
        cfg[loader].dataset.update(data_root=root, reduce_zero_label=reduce_zero_label)
    return cfg


@pytest.mark.parametrize('reduce_zero_label, allowed, bad', [
    (True, '0..7, 255', '00001.png [8, 254]'),  # file 0 and 255: ignored, 1..7: classes 0..6
    (False, '0..6, 255', '00001.png [7, 8, 254], 00002.png [7]')])
def test_label_maps_beyond_num_classes_stop(tmp_path, log, reduce_zero_label, allowed, bad):
    from ghostv2_mm.synthetic import make_segmentation
    root = make_segmentation(str(tmp_path / 'seg'), num_train=3, num_val=1)
    cfg = seg_config(root, reduce_zero_label)
    masks = osp.join(root, 'annotations', 'training')
    label = np.ones((160, 224), np.uint8)
    cv2.imwrite(osp.join(masks, '00000.png'), label)
    label[:2, :2] = [[0, 255], [8, 254]]
    label[2, 2] = 7
    cv2.imwrite(osp.join(masks, '00001.png'), label)
    cv2.imwrite(osp.join(masks, '00002.png'), np.full((160, 224), 7, np.uint8))
    n = bad.count('png')
    with pytest.raises(DataError) as e:
        check_data(cfg, ['train_dataloader'])
    assert str(e.value) == (
        f'train_dataloader: {n} of 3 label maps in {masks} hold values other than {allowed} '
        f'(num_classes=7, ignore_index=255, reduce_zero_label={reduce_zero_label}): {bad}')
    assert log() == ''


def test_missing_label_map_stops(tmp_path, log):
    from ghostv2_mm.synthetic import make_segmentation
    root = make_segmentation(str(tmp_path / 'seg'), num_train=3, num_val=1)
    masks = osp.join(root, 'annotations', 'validation')
    os.remove(osp.join(masks, '00000.png'))
    with pytest.raises(DataError) as e:
        check_data(seg_config(root, True), ['train_dataloader', 'val_dataloader'])
    assert str(e.value) == f'val_dataloader: 1 of 1 label maps are not in {masks}: 00000.png'


def test_shapes_datasets_pass_silently(tmp_path, log):
    from ghostv2_mm.synthetic import make_detection, make_segmentation
    root = make_detection(str(tmp_path / 'det'), num_train=4, num_val=2)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/mmdet/yolov3_ghostv2_320_shapes.py'))
    cfg.train_dataloader.dataset.dataset.data_root = root
    cfg.val_dataloader.dataset.data_root = root
    check_data(cfg, ['train_dataloader', 'val_dataloader'])
    root = make_segmentation(str(tmp_path / 'seg'), num_train=4, num_val=2)
    check_data(seg_config(root, True), ['train_dataloader', 'val_dataloader'])
    assert log() == ''


def test_train_stops_with_one_line(tmp_path):
    def edit(data):
        data['images'][1]['file_name'] = 'gone.jpg'
    coco(tmp_path, edit)
    root = f'{tmp_path}/'
    result = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/mmdet/yolov3_ghostv2_320_shapes.py',
         '--work-dir', str(tmp_path / 'work'), '--cfg-options',
         f'train_dataloader.dataset.dataset.data_root={root}',
         'train_dataloader.dataset.dataset.ann_file=ann.json',
         'train_dataloader.dataset.dataset.data_prefix.img=images/',
         'train_dataloader.dataset.dataset.metainfo.classes=[a,b]'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f'train_dataloader: {root}ann.json: 1 of its 3 images are not in {root}images/: '
        'image ids 1 (gone.jpg)')
    assert not (tmp_path / 'work').exists()
