"""The shapes classifier trains with tools/train.py; tools/test.py and ``mim test mmpretrain``
re-evaluate it; mmpretrain's inferencer runs it; its checkpoint initialises the backbone of the
detection and segmentation configs through ``init_cfg``."""
import os.path as osp
import sys

import pytest
import torch

from ghostv2_mm.apis import build_model

from .helpers import ROOT, cli, run_tool, scalars

CONFIG = 'configs/mmpretrain/ghostnetv2_1.0x_shapes.py'


def options(data_root, work_dir):
    opts = {
        'train_dataloader.dataset.data_root': f'{data_root}/',
        'val_dataloader.dataset.data_root': f'{data_root}/',
        'test_dataloader.dataset.data_root': f'{data_root}/',
        'train_dataloader.batch_size': 16,
        'train_cfg.max_epochs': 1,
        'train_cfg.val_interval': 1,
        'default_hooks.checkpoint.interval': 1,
        'param_scheduler.0.end': 2,
        'param_scheduler.1.end': 1,
    }
    return cli(work_dir, opts)


def top1(work_dir):
    return [r['accuracy/top1'] for r in scalars(work_dir) if 'accuracy/top1' in r]


@pytest.fixture(scope='module')
def trained(tiny_cls, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('cls_train')
    run_tool('tools/train.py', CONFIG, *options(tiny_cls, work_dir))
    return work_dir


def test_test_tool_and_mim_reproduce_accuracy(trained, tiny_cls, tmp_path):
    assert len(top1(trained)) == 1
    ckpt = osp.join(trained, 'epoch_1.pth')
    run_tool('tools/test.py', CONFIG, ckpt, *options(tiny_cls, tmp_path / 'test'))
    assert top1(tmp_path / 'test') == top1(trained)
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    run_tool(mim, 'test', 'mmpretrain', CONFIG, '--checkpoint', ckpt,
             *options(tiny_cls, tmp_path / 'mim'))
    assert top1(tmp_path / 'mim') == top1(trained)


def test_inferencer_on_one_image(trained, tiny_cls):
    from mmengine.registry import DefaultScope
    from mmpretrain import ImageClassificationInferencer

    # Earlier tests in this process (mmdet/mmdeploy) leave their default scope set; a user's
    # process starts without one.
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        inferencer = ImageClassificationInferencer(
            osp.join(ROOT, CONFIG), pretrained=osp.join(trained, 'epoch_1.pth'), device='cpu')
        result = inferencer(osp.join(tiny_cls, 'val', 'star', '00000.JPEG'))[0]
    assert result['pred_class'] in ('disk', 'square', 'triangle', 'star', 'cross', 'ring')
    assert len(result['pred_scores']) == 6


@pytest.mark.parametrize('config', ['configs/mmdet/yolov3_ghostv2_320_shapes.py',
                                    'configs/mmseg/deeplabv3_ghostv2_shapes.py'])
def test_classifier_checkpoint_initialises_dense_backbones(trained, config):
    ckpt = osp.join(trained, 'epoch_1.pth')
    model = build_model(osp.join(ROOT, config),
                        {'model.backbone.init_cfg.checkpoint': ckpt})
    model.init_weights()
    source = torch.load(ckpt, map_location='cpu')['state_dict']
    loaded = model.backbone.state_dict()
    for key, value in loaded.items():
        torch.testing.assert_close(value, source[f'backbone.{key}'], rtol=0, atol=0)
