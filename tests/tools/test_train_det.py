"""tools/train.py and tools/test.py on YOLOv3-GhostNetV2-320 with generated COCO data: training,
re-evaluation, exact resume, 2-process CPU distributed training, and clear data errors."""
import os.path as osp
import pickle
import sys

import pytest
import torch

from .helpers import ROOT, cli, run_tool, scalars

CONFIG = 'configs/mmdet/yolov3_ghostv2_320_shapes.py'


def settings(data_root, epochs=2, **extra):
    """Config overrides for a short run on the tiny dataset at ``data_root``."""
    return {
        'data_root': f'{data_root}/',
        'train_dataloader.dataset.dataset.data_root': f'{data_root}/',
        'val_dataloader.dataset.data_root': f'{data_root}/',
        'test_dataloader.dataset.data_root': f'{data_root}/',
        'val_evaluator.ann_file': f'{data_root}/annotations/instances_val.json',
        'test_evaluator.ann_file': f'{data_root}/annotations/instances_val.json',
        'train_dataloader.batch_size': 4,
        'train_cfg.max_epochs': epochs,
        'train_cfg.val_interval': epochs,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': 3,
        'default_hooks.logger.interval': 1,
        'param_scheduler.1.end': epochs,
        # No classifier checkpoint in CI: start from the default initialisation; keep every
        # prediction so a barely trained model still gets a (low) COCO score.
        'model.backbone.init_cfg': None,
        'model.test_cfg.conf_thr': 0.0,
        'model.test_cfg.score_thr': 0.0,
        **extra,
    }


def options(data_root, work_dir, epochs=2, **extra):
    """``--work-dir`` and ``--cfg-options`` arguments of :func:`settings`."""
    return cli(work_dir, settings(data_root, epochs, **extra))


def final_weights(work_dir, epoch):
    return torch.load(osp.join(work_dir, f'epoch_{epoch}.pth'), map_location='cpu')['state_dict']


@pytest.fixture(scope='module')
def trained(tiny_det, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('train')
    run_tool('tools/train.py', CONFIG, *options(tiny_det, work_dir))
    return work_dir


def test_training_runs_and_evaluates(trained):
    records = scalars(trained)
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 8  # 2 epochs x 4 iterations, logged every iteration
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    maps = [r['coco/bbox_mAP'] for r in records if 'coco/bbox_mAP' in r]
    assert len(maps) == 1 and 0 <= maps[0] <= 1
    assert osp.exists(osp.join(trained, 'epoch_2.pth'))


def test_test_tool_reproduces_the_metric_and_writes_outputs(trained, tiny_det, tmp_path):
    expected = [r['coco/bbox_mAP'] for r in scalars(trained) if 'coco/bbox_mAP' in r][-1]
    out, show = tmp_path / 'preds.pkl', tmp_path / 'vis'
    run_tool('tools/test.py', CONFIG, osp.join(trained, 'epoch_2.pth'), '--out', str(out),
             '--show-dir', str(show), *options(tiny_det, tmp_path / 'test'))
    got = [r['coco/bbox_mAP'] for r in scalars(tmp_path / 'test') if 'coco/bbox_mAP' in r]
    assert got == [expected]
    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    assert len(dumped) == 8
    assert len(list(show.rglob('*.jpg'))) == 8

    mim = osp.join(osp.dirname(sys.executable), 'mim')
    run_tool(mim, 'test', 'mmdet', CONFIG, '--checkpoint', osp.join(trained, 'epoch_2.pth'),
             *options(tiny_det, tmp_path / 'mim'))
    got = [r['coco/bbox_mAP'] for r in scalars(tmp_path / 'mim') if 'coco/bbox_mAP' in r]
    assert got == [expected]

    # The dumped predictions are the checkpoint's: mmdet's own inference API agrees.
    from mmdet.apis import inference_detector, init_detector
    model = init_detector(osp.join(ROOT, CONFIG), osp.join(trained, 'epoch_2.pth'), device='cpu',
                          cfg_options=settings(tiny_det))
    first = dumped[0]
    pred = inference_detector(model, first['img_path']).pred_instances
    torch.testing.assert_close(pred.scores[:10], first['pred_instances']['scores'][:10])
    torch.testing.assert_close(pred.bboxes[:10], first['pred_instances']['bboxes'][:10])


def test_resume_gives_the_same_weights(trained, tiny_det, tmp_path):
    run_tool('tools/train.py', CONFIG, *options(tiny_det, tmp_path, epochs=2,
                                                **{'train_cfg.max_epochs': 1}))
    assert not osp.exists(tmp_path / 'epoch_2.pth')
    run_tool('tools/train.py', CONFIG, '--resume', *options(tiny_det, tmp_path, epochs=2))
    resumed, straight = final_weights(tmp_path, 2), final_weights(trained, 2)
    assert resumed.keys() == straight.keys()
    for k in straight:
        assert torch.equal(resumed[k], straight[k]), k


def test_two_process_cpu_distributed(tiny_det, tmp_path):
    result = run_tool('bash', 'tools/dist_train.sh', CONFIG, '2',
                      *options(tiny_det, tmp_path, epochs=1), env=dict(PORT='29611'))
    assert 'Distributed launcher: pytorch' in result.stdout + result.stderr or \
        osp.exists(tmp_path / 'epoch_1.pth')
    assert osp.exists(tmp_path / 'epoch_1.pth')
    world = [r for r in scalars(tmp_path) if 'loss' in r]
    assert len(world) == 2  # 16 images / (2 processes x 4) = 2 iterations


@pytest.mark.parametrize('breakage, message', [
    ('data_root', 'does not exist'),
    ('annotation', 'instances_train.json'),
    ('image', '00003.jpg'),
])
def test_bad_data_gives_a_clear_error(tiny_det, tmp_path, breakage, message):
    import shutil
    root = tmp_path / 'data'
    shutil.copytree(tiny_det, root)
    if breakage == 'data_root':
        root = tmp_path / 'missing'
    elif breakage == 'annotation':
        (root / 'annotations' / 'instances_train.json').unlink()
    else:
        (root / 'images' / 'train' / '00003.jpg').write_bytes(b'not a jpeg')
    result = run_tool('tools/train.py', CONFIG, *options(str(root), tmp_path / 'w', epochs=1),
                      check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-3000:]


def test_mim_train(tiny_det, tmp_path):
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    run_tool(mim, 'train', 'mmdet', CONFIG, *options(tiny_det, tmp_path, epochs=1))
    assert osp.exists(tmp_path / 'epoch_1.pth')
