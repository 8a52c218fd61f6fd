"""Training safety for every config: atomic checkpoints, a stop at the first invalid loss, a
check of ``num_classes`` against the dataset, and checks of a run's checkpoint files."""
from .atomic import atomic_torch_save, atomic_write
from .hooks import (AtomicCheckpointHook, ClassesCheckHook, InvalidLossError, InvalidLossHook,
                    NumClassesError, StepSeedHook)
from .run_checkpoints import (check_run_checkpoint, intact_checkpoints, resolve_resume,
                              resume_hint)

__all__ = ['AtomicCheckpointHook', 'InvalidLossHook', 'InvalidLossError', 'ClassesCheckHook',
           'NumClassesError', 'StepSeedHook', 'atomic_write', 'atomic_torch_save',
           'check_run_checkpoint', 'intact_checkpoints', 'resolve_resume', 'resume_hint']
