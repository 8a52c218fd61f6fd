"""DeepLabV3-GhostNetV2 on generated ADE20K-layout data: tools/train.py, tools/test.py and
``mim test mmseg`` agree on mIoU, overlays are drawn, bad label maps give a clear error."""
import os.path as osp
import shutil
import sys

import cv2
import numpy as np
import pytest

from .helpers import cli, run_tool, scalars

CONFIG = 'configs/mmseg/deeplabv3_ghostv2_shapes.py'


def options(data_root, work_dir, iters=4):
    opts = {
        'train_dataloader.dataset.data_root': f'{data_root}/',
        'val_dataloader.dataset.data_root': f'{data_root}/',
        'test_dataloader.dataset.data_root': f'{data_root}/',
        'train_dataloader.batch_size': 4,
        'train_cfg.max_iters': iters,
        'train_cfg.val_interval': iters,
        'default_hooks.checkpoint.interval': iters,
        'default_hooks.logger.interval': 1,
        'param_scheduler.0.end': 2,
        'param_scheduler.1.begin': 2,
        'param_scheduler.1.end': iters,
        'model.backbone.init_cfg': None,
    }
    return cli(work_dir, opts)


def miou(work_dir):
    return [r['mIoU'] for r in scalars(work_dir) if 'mIoU' in r]


@pytest.fixture(scope='module')
def trained(tiny_seg, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('seg_train')
    run_tool('tools/train.py', CONFIG, *options(tiny_seg, work_dir))
    return work_dir


def test_training_runs_and_evaluates(trained):
    records = scalars(trained)
    assert len([r for r in records if 'loss' in r]) == 4
    assert len(miou(trained)) == 1 and 0 <= miou(trained)[0] <= 100
    assert osp.exists(osp.join(trained, 'iter_4.pth'))


def test_test_tool_and_mim_reproduce_miou_and_draw(trained, tiny_seg, tmp_path):
    ckpt = osp.join(trained, 'iter_4.pth')
    show = tmp_path / 'vis'
    run_tool('tools/test.py', CONFIG, ckpt, '--show-dir', str(show),
             *options(tiny_seg, tmp_path / 'test'))
    assert miou(tmp_path / 'test') == miou(trained)
    assert len(list(show.rglob('*.png'))) == 4
    args = options(tiny_seg, tmp_path / 'mim')
    run_tool(osp.join(osp.dirname(sys.executable), 'mim'), 'test', 'mmseg',
             CONFIG, '--checkpoint', ckpt, *args)
    assert miou(tmp_path / 'mim') == miou(trained)


def test_out_of_range_label_is_a_clear_error(tiny_seg, tmp_path):
    root = tmp_path / 'data'
    shutil.copytree(tiny_seg, root)
    label = root / 'annotations' / 'training' / '00002.png'
    seg = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
    seg[:4, :4] = 42
    cv2.imwrite(str(label), seg.astype(np.uint8))
    result = run_tool('tools/train.py', CONFIG, *options(str(root), tmp_path / 'w'),
                      check=False)
    assert result.returncode != 0
    # Found before training, by the scan of the label maps (ghostv2_mm.datasets.checks).
    last = result.stderr.strip().splitlines()[-1]
    assert 'label maps in' in last and '00002.png [42]' in last, result.stderr[-3000:]
