"""A toy mmengine run (a linear model on random points) for the hooks' tests: seconds on a CPU;
and ``good``, a checkpoint file of ``tests.test_checkpoint.model``, for the run-checkpoint tests."""
import itertools

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel

from tests.test_checkpoint import good  # noqa: F401  a checkpoint of test_checkpoint.model

_names = itertools.count()


class ToyData(torch.utils.data.Dataset):
    metainfo = dict(classes=('a', 'b', 'c'))

    def __init__(self, n=8):
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=generator)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=self.x[i], labels=self.y[i])


class ToyModel(BaseModel):
    """Linear regression with dropout; ``nan_at`` makes the loss of that call NaN."""

    def __init__(self, dropout=0.5, nan_at=None, num_classes=3):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(4, 1)
        self.head = nn.Identity()
        self.head.num_classes = num_classes
        self.nan_at, self.calls = nan_at, 0

    def forward(self, inputs, labels, mode='tensor'):
        out = self.fc(self.drop(torch.stack(inputs)))
        if mode != 'loss':
            return out
        self.calls += 1
        loss = ((out - torch.stack(labels))**2).mean()
        if self.calls == self.nan_at:
            loss = loss * float('nan')
        return dict(loss_mse=loss, loss_l1=(out - torch.stack(labels)).abs().mean().detach())


def toy_runner(work_dir, iters=4, custom_hooks=(), checkpoint=None, resume=False, **model):
    """An iteration-based mmengine Runner of :class:`ToyModel` that checkpoints every iteration
    with ``AtomicCheckpointHook`` (or the hook config ``checkpoint``)."""
    import ghostv2_mm.engine  # noqa: F401  registers the hooks
    from mmengine.runner import Runner
    torch.manual_seed(0)  # the same initial weights in every run of a test
    return Runner(
        model=ToyModel(**model),
        work_dir=str(work_dir),
        experiment_name=f'toy_{next(_names)}',
        train_dataloader=dict(dataset=ToyData(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05)),
        default_hooks=dict(checkpoint=checkpoint or dict(
            type='AtomicCheckpointHook', interval=1, by_epoch=False, max_keep_ckpts=1)),
        custom_hooks=list(custom_hooks),
        randomness=dict(seed=0),
        resume=resume,
        default_scope='mmengine',
    )


@pytest.fixture
def runner_factory():
    return toy_runner
