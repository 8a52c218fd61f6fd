"""tools/train.py and tools/test.py on RTMDet-tiny and RTMDet-Ins-tiny with GhostNetV2 on
generated COCO data (boxes and polygon masks): a few iterations of training, evaluation, the same
metric again from the checkpoint, and taps that do not match the neck refused before any data is
read."""
import os.path as osp

import pytest

from .helpers import cli, run_tool, scalars

pytest.importorskip('mmdet', reason='mmdet is installed by the "det" extra (tools/setup_env.sh)')

# config -> the COCO metrics it logs
CONFIGS = {
    'configs/mmdet/rtmdet_tiny_ghostv2_shapes.py': ('coco/bbox_mAP', ),
    'configs/mmdet/rtmdet-ins_tiny_ghostv2_shapes.py': ('coco/bbox_mAP', 'coco/segm_mAP'),
}


def options(data_root, work_dir):
    """One epoch of 4 iterations (16 images, batch 4) on the tiny dataset at ``data_root``."""
    return cli(work_dir, {
        'train_dataloader.dataset.data_root': f'{data_root}/',
        'val_dataloader.dataset.data_root': f'{data_root}/',
        'test_dataloader.dataset.data_root': f'{data_root}/',
        'val_evaluator.ann_file': f'{data_root}/annotations/instances_val.json',
        'test_evaluator.ann_file': f'{data_root}/annotations/instances_val.json',
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'val_dataloader.num_workers': 0,
        'test_dataloader.num_workers': 0,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.logger.interval': 1,
        'param_scheduler.1.end': 1,
        'param_scheduler.1.T_max': 1,
        # No classifier checkpoint in CI: start from the default initialisation; keep every
        # prediction, the degenerate boxes of a barely trained model included, so that it still
        # gets a (low) COCO score.
        'model.backbone.init_cfg': None,
        'model.test_cfg.score_thr': 0.0,
        'model.test_cfg.min_bbox_size': -1,
    })


@pytest.mark.parametrize('config', sorted(CONFIGS), ids=osp.basename)
def test_train_then_test_gives_the_same_metrics(config, tiny_det, tmp_path):
    train_dir, test_dir = tmp_path / 'train', tmp_path / 'test'
    run_tool('tools/train.py', config, *options(tiny_det, train_dir))
    records = scalars(train_dir)
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 4 and all(loss == loss and loss < 1e4 for loss in losses)
    if 'coco/segm_mAP' in CONFIGS[config]:
        assert all('loss_mask' in r for r in records if 'loss' in r)
    trained = {k: [r[k] for r in records if k in r] for k in CONFIGS[config]}
    assert all(len(v) == 1 and 0 <= v[0] <= 1 for v in trained.values()), trained

    run_tool('tools/test.py', config, str(train_dir / 'epoch_1.pth'),
             *options(tiny_det, test_dir))
    tested = {k: [r[k] for r in scalars(test_dir) if k in r] for k in CONFIGS[config]}
    assert tested == trained


@pytest.mark.parametrize('config', sorted(CONFIGS), ids=osp.basename)
def test_taps_that_do_not_fit_the_neck_are_refused(config, tiny_det, tmp_path):
    result = run_tool('tools/train.py', config, *options(tiny_det, tmp_path),
                      'model.neck.in_channels=[40,112,960]', check=False)
    assert result.returncode != 0
    assert 'model.neck.in_channels [40, 112, 960] does not match' in result.stderr
    assert 'out_channels [40, 112, 160]' in result.stderr
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    assert not list(tmp_path.rglob('*.pth'))
