"""tools/train.py and tools/test.py on the light heads with GhostNetV2: SSDLite-320 on generated
COCO data and LRASPP (output stride 8) on generated ADE20K-layout data train a few iterations,
evaluate, and re-evaluate to the same metric; an image too small for LRASPP's pooling stops the
test tool with the smallest size."""
import math
import os.path as osp

import pytest

from .helpers import cli, run_tool, scalars

SSDLITE = 'configs/mmdet/ssdlite_ghostv2_shapes.py'
LRASPP = 'configs/mmseg/lraspp_ghostv2_shapes.py'


def ssdlite_options(data_root, work_dir, epochs=1):
    return cli(work_dir, {
        'train_dataloader.dataset.dataset.data_root': f'{data_root}/',
        'val_dataloader.dataset.data_root': f'{data_root}/',
        'test_dataloader.dataset.data_root': f'{data_root}/',
        'val_evaluator.ann_file': f'{data_root}/annotations/instances_val.json',
        'test_evaluator.ann_file': f'{data_root}/annotations/instances_val.json',
        'train_dataloader.batch_size': 4,
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': epochs,
        'default_hooks.checkpoint.interval': epochs,
        'default_hooks.logger.interval': 1,
        'param_scheduler.0.end': 2,
        'param_scheduler.1.end': epochs,
        'param_scheduler.1.T_max': epochs,
        # No classifier checkpoint in CI: start from the default initialisation; keep every
        # prediction so a barely trained model still gets a (low) COCO score.
        'model.backbone.init_cfg': None,
        'model.test_cfg.score_thr': 0.0,
    })


def lraspp_options(data_root, work_dir, iters=2, **extra):
    return cli(work_dir, {
        'train_dataloader.dataset.data_root': f'{data_root}/',
        'val_dataloader.dataset.data_root': f'{data_root}/',
        'test_dataloader.dataset.data_root': f'{data_root}/',
        'train_dataloader.batch_size': 1,  # 392x392 crops: one is 150k pixels for BN
        'train_cfg.max_iters': iters,
        'train_cfg.val_interval': iters,
        'default_hooks.checkpoint.interval': iters,
        'default_hooks.logger.interval': 1,
        'param_scheduler.0.end': 1,
        'param_scheduler.1.begin': 1,
        'param_scheduler.1.end': iters,
        'model.backbone.init_cfg': None,
        **extra,
    })


def metric(work_dir, key):
    return [r[key] for r in scalars(work_dir) if key in r]


@pytest.fixture(scope='module')
def ssdlite(tiny_det, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('ssdlite')
    run_tool('tools/train.py', SSDLITE, *ssdlite_options(tiny_det, work_dir))
    return work_dir


@pytest.fixture(scope='module')
def lraspp(tiny_seg, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('lraspp')
    run_tool('tools/train.py', LRASPP, *lraspp_options(tiny_seg, work_dir))
    return work_dir


def test_ssdlite_trains_and_evaluates(ssdlite):
    losses = [r['loss'] for r in scalars(ssdlite) if 'loss' in r]
    assert len(losses) == 4  # 1 epoch of 4 iterations, logged every iteration
    assert all(math.isfinite(loss) for loss in losses)
    maps = metric(ssdlite, 'coco/bbox_mAP')
    assert len(maps) == 1 and 0 <= maps[0] <= 1
    assert osp.exists(osp.join(ssdlite, 'epoch_1.pth'))


def test_ssdlite_test_tool_reproduces_the_metric(ssdlite, tiny_det, tmp_path):
    run_tool('tools/test.py', SSDLITE, osp.join(ssdlite, 'epoch_1.pth'),
             *ssdlite_options(tiny_det, tmp_path))
    assert metric(tmp_path, 'coco/bbox_mAP') == metric(ssdlite, 'coco/bbox_mAP')


def test_lraspp_trains_and_evaluates(lraspp):
    losses = [r['loss'] for r in scalars(lraspp) if 'loss' in r]
    assert len(losses) == 2
    mious = metric(lraspp, 'mIoU')
    assert len(mious) == 1 and 0 <= mious[0] <= 100
    assert osp.exists(osp.join(lraspp, 'iter_2.pth'))


def test_lraspp_test_tool_reproduces_the_metric(lraspp, tiny_seg, tmp_path):
    run_tool('tools/test.py', LRASPP, osp.join(lraspp, 'iter_2.pth'),
             *lraspp_options(tiny_seg, tmp_path))
    assert metric(tmp_path, 'mIoU') == metric(lraspp, 'mIoU')


def test_lraspp_too_small_image_names_the_smallest_size(lraspp, tiny_seg, tmp_path):
    # The generated images at their own size (160x224) instead of resized up to 392x549.
    result = run_tool('tools/test.py', LRASPP, osp.join(lraspp, 'iter_2.pth'),
                      *lraspp_options(tiny_seg, tmp_path,
                                      **{'test_dataloader.dataset.pipeline.1.scale': '(224,160)'}),
                      check=False)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert 'LRASPP needs images of at least 385 px on each side' in last, result.stderr[-3000:]
    assert '20x28 feature map' in last
