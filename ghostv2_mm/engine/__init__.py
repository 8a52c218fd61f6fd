"""Training safety for every config: atomic checkpoints, a stop at the first invalid loss, a
check of ``num_classes`` against the dataset, and checks of checkpoint files."""
from .atomic import atomic_torch_save, atomic_write
from .checkpoint_files import (CheckpointError, check_fits, check_run_checkpoint,
                               checkpoint_damage, intact_checkpoints, load_checkpoint_file,
                               resolve_resume, resume_hint, state_dict_of)
from .hooks import (AtomicCheckpointHook, ClassesCheckHook, InvalidLossError, InvalidLossHook,
                    NumClassesError, StepSeedHook)

__all__ = ['AtomicCheckpointHook', 'InvalidLossHook', 'InvalidLossError', 'ClassesCheckHook',
           'NumClassesError', 'StepSeedHook',
           'CheckpointError', 'atomic_write', 'atomic_torch_save', 'checkpoint_damage',
           'load_checkpoint_file', 'state_dict_of', 'check_fits', 'check_run_checkpoint',
           'intact_checkpoints', 'resolve_resume', 'resume_hint']
