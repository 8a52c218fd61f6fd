"""Training hooks that keep a run's results safe: atomic checkpoints, random numbers that do not
depend on where a run was resumed, a stop at the first invalid loss, and a check of the heads'
``num_classes`` against the dataset. They are registered in
mmengine's root ``HOOKS`` registry, so a plain ``type='AtomicCheckpointHook'`` builds under the
default scopes of mmdet, mmseg and mmpretrain."""
import math
import os.path as osp

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS

from ..errors import ConfigError, GhostV2Error
from .atomic import atomic_write, remove_partial_files


@register_backend('local_atomic')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes are atomic (:func:`atomic_write`)."""

    def put(self, obj, filepath):
        atomic_write(obj, filepath)

    def put_text(self, obj, filepath, encoding='utf-8'):
        atomic_write(obj.encode(encoding), filepath)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` made safe against kills at any moment.

    - Checkpoints (periodic, best and ``last_checkpoint``) are written to a temporary file,
      fsynced and renamed into place, so no final name ever holds a partial file.
    - With ``max_keep_ckpts``, mmengine removes the oldest checkpoint *before* writing the new
      one, so a kill during the write leaves no checkpoint at all and ``last_checkpoint``
      naming a deleted file. Here the new checkpoint and ``last_checkpoint`` are written first
      and the oldest file is removed last.
    - ``*.partial`` files a killed run left behind are removed before training.

    Takes the arguments of ``CheckpointHook``; local folders use the atomic backend unless
    ``backend_args`` names another one (object stores replace whole objects anyway).
    """

    def __init__(self, *args, backend_args=None, file_client_args=None, **kwargs):
        out_dir = kwargs.get('out_dir')
        local = out_dir is None or '://' not in str(out_dir)
        if backend_args is None and file_client_args is None and local:
            backend_args = dict(backend='local_atomic')
        super().__init__(*args, backend_args=backend_args, file_client_args=file_client_args,
                         **kwargs)

    def before_train(self, runner):
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, LocalBackend):
            for folder in {self.out_dir, runner.work_dir}:
                for path in remove_partial_files(folder):
                    runner.logger.info(f'Removed {path}, left by an interrupted write.')

    def _save_checkpoint_with_step(self, runner, step, meta):
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        stale = None
        # The same bookkeeping as mmengine (the ids go into the checkpoint's message hub), but
        # the oldest file is only removed once the new one is in place.
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        runner.save_checkpoint(
            self.out_dir, filename, self.file_client_args, save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
            backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        atomic_write(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
        if stale is not None and stale != step:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(stale))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # DeepSpeed writes folders
                self.file_backend.rmtree(path)


@HOOKS.register_module()
class StepSeedHook(Hook):
    """Seed Python's, NumPy's and PyTorch's random generators from the run's seed and the
    iteration number before every training iteration, so that a run resumed from any checkpoint
    draws the same random numbers (dropout, batch augmentations) as an uninterrupted run.

    mmengine seeds once at start-up and does not store the generators' states in checkpoints,
    so after a resume a model with dropout trains on other random numbers. Dataloader workers
    are seeded by mmengine's ``worker_init_fn`` and samplers by seed and epoch already.
    """

    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        import random

        import numpy as np
        seed = (runner.seed + runner.iter) % 2**32
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # every device's generator


class InvalidLossError(GhostV2Error, RuntimeError):
    """Training stopped at a NaN or infinite loss."""


@HOOKS.register_module()
class InvalidLossHook(Hook):
    """Stop training at the first iteration whose loss is NaN or infinite.

    Unlike mmdet's ``CheckInvalidLossHook`` (every ``interval`` iterations, total loss only), every
    iteration is checked and the error names the iteration and every loss term with its value.
    The hook runs before the checkpoint and logger hooks (priority ``VERY_HIGH``), so no
    checkpoint is written after the invalid step and the last one saved stays the last good one.
    In distributed training the ranks agree (one all-reduce per iteration) and all stop.

    Raises:
        InvalidLossError: ``loss became nan at iteration 12 (epoch 2): loss_cls=nan,
            loss_bbox=0.41; the last checkpoint is work_dirs/x/epoch_1.pth``.
    """

    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not outputs:
            return
        values = {k: float(v) for k, v in outputs.items() if _is_scalar(v)}
        invalid = sum(not math.isfinite(v) for v in values.values())
        if get_world_size() > 1:
            count = torch.tensor(float(invalid))
            all_reduce(count)
            invalid = int(count.item())
        if not invalid:
            return
        bad = [v for v in values.values() if not math.isfinite(v)]
        kind = ('nan' if any(math.isnan(v) for v in bad) else 'inf') if bad else \
            'invalid on another rank'
        terms = ', '.join(f'{k}={v:.4g}' for k, v in values.items() if k.startswith('loss'))
        last = runner.message_hub.get_info('last_ckpt')
        kept = f'the last checkpoint is {last}' if last else 'no checkpoint was saved'
        raise InvalidLossError(f'loss became {kind} at iteration {runner.iter + 1} '
                               f'(epoch {runner.epoch + 1}): {terms}; training stopped, {kept}')


def _is_scalar(value):
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, (int, float))


class NumClassesError(ConfigError):
    """A head's ``num_classes`` differs from its dataset's number of classes."""


@HOOKS.register_module()
class ClassesCheckHook(Hook):
    """Stop before training (or testing) when a head's ``num_classes`` differs from the number
    of classes of the dataset it trains or tests on; mmdet's ``NumClassesCheckHook`` asserts this
    for detectors only, this hook also covers segmentors and classifiers.

    Heads are the model's direct children with an integer ``num_classes`` (``bbox_head``,
    ``decode_head``, ``auxiliary_head``, ``head``); datasets without ``classes`` in their
    ``metainfo`` are not checked. mmseg's binary heads (``out_channels=1``) keep
    ``num_classes=2`` and match two classes.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner):
        self._check(runner, 'train_dataloader', runner.train_loop.dataloader)
        val_loop = getattr(runner, '_val_loop', None)
        if val_loop is not None and hasattr(val_loop, 'dataloader'):
            self._check(runner, 'val_dataloader', val_loop.dataloader)

    def before_test(self, runner):
        self._check(runner, 'test_dataloader', runner.test_loop.dataloader)

    @staticmethod
    def _check(runner, name, dataloader):
        dataset = getattr(dataloader, 'dataset', None)
        classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        if not classes:
            return
        model = getattr(runner.model, 'module', runner.model)
        for head_name, head in model.named_children():
            heads = head if isinstance(head, torch.nn.ModuleList) else [head]
            for head in heads:
                num = getattr(head, 'num_classes', None)
                if isinstance(num, int) and num != len(classes):
                    raise NumClassesError(
                        f'model.{head_name}.num_classes is {num}, but the dataset of {name} '
                        f'({type(dataset).__name__}) has {len(classes)} classes: set '
                        f'num_classes={len(classes)} or the dataset\'s metainfo classes')
