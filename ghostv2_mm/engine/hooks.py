"""Training hooks that keep a run's results safe (docs/faults.md). They are in mmengine's root
``HOOKS`` registry, so plain names build under the default scopes of mmdet, mmseg and mmpretrain.
"""
import math
import os.path as osp

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS
from mmengine.runner import set_random_seed

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
    """mmengine's ``CheckpointHook`` (same arguments) with atomic writes to local folders, the
    oldest checkpoint removed only after the new one and ``last_checkpoint`` are in place, and
    ``*.partial`` files of a killed run removed before training."""

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
        # mmengine's bookkeeping (the ids go into the checkpoint's message hub), but the oldest
        # file is removed last: mmengine removes it first, so a kill then leaves no checkpoint.
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
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
    """Seed Python, NumPy and PyTorch from the run's seed and the iteration before each training
    iteration, so a resumed run draws the same random numbers as an uninterrupted one (mmengine
    does not store the generators; it seeds workers and samplers by seed and epoch already)."""

    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        set_random_seed((runner.seed + runner.iter) % 2**32)


class InvalidLossError(GhostV2Error, RuntimeError):
    """Training stopped at a NaN or infinite loss."""


@HOOKS.register_module()
class InvalidLossHook(Hook):
    """Stop training at the first iteration whose loss or any loss term is NaN or infinite, with
    an ``InvalidLossError`` naming the iteration and every term. It runs before the checkpoint
    hook, so nothing is saved after the bad step; the ranks agree through one all-reduce."""

    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not outputs:
            return
        values = {k: float(v) for k, v in outputs.items() if isinstance(v, (int, float))
                  or isinstance(v, torch.Tensor) and v.numel() == 1}
        bad = [v for v in values.values() if not math.isfinite(v)]
        invalid = len(bad)
        if get_world_size() > 1:
            count = torch.tensor(float(invalid))
            all_reduce(count)
            invalid = int(count.item())
        if not invalid:
            return
        kind = ('nan' if any(math.isnan(v) for v in bad) else 'inf') if bad else \
            'invalid on another rank'
        terms = ', '.join(f'{k}={v:.4g}' for k, v in values.items() if k.startswith('loss'))
        last = runner.message_hub.get_info('last_ckpt')
        kept = f'the last checkpoint is {last}' if last else 'no checkpoint was saved'
        raise InvalidLossError(f'loss became {kind} at iteration {runner.iter + 1} '
                               f'(epoch {runner.epoch + 1}): {terms}; training stopped, {kept}')


class NumClassesError(ConfigError):
    """A head's ``num_classes`` differs from its dataset's number of classes."""


@HOOKS.register_module()
class ClassesCheckHook(Hook):
    """Stop before training (or testing) when a head (a direct child of the model with an integer
    ``num_classes``) differs from its dataset's ``metainfo`` classes in number; mmdet's
    ``NumClassesCheckHook`` covers detectors only. mmseg's binary heads keep ``num_classes=2``
    and match two classes."""

    priority = 'VERY_HIGH'

    def before_train(self, runner):
        self._check(runner, 'train_dataloader', runner.train_loop.dataloader)
        val_loop = getattr(runner, '_val_loop', None)
        if hasattr(val_loop, 'dataloader'):
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
            for head in head if isinstance(head, torch.nn.ModuleList) else [head]:
                num = getattr(head, 'num_classes', None)
                if isinstance(num, int) and num != len(classes):
                    raise NumClassesError(
                        f'model.{head_name}.num_classes is {num}, but the dataset of {name} '
                        f'({type(dataset).__name__}) has {len(classes)} classes: set '
                        f'num_classes={len(classes)} or the dataset\'s metainfo classes')
