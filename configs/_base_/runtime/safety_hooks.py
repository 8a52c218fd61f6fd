# The package's safety hooks (ghostv2_mm.engine, docs/faults.md), shared by every training config
# of configs/mmpretrain, configs/mmdet and configs/mmseg. A config lists this file in `_base_`
# beside its library's base (and ../_base_/models/ghostnetv2.py):
#   StepSeedHook      Python/NumPy/PyTorch seeded from the run's seed and the iteration, so a
#                     resumed run draws the random numbers of an uninterrupted one;
#   InvalidLossHook   a stop at the first NaN/inf loss (or loss term), before any checkpoint;
#   ClassesCheckHook  the heads' num_classes checked against the dataset's classes.
# A config that adds hooks of its own keeps these: custom_hooks = [..., *_base_.custom_hooks].
#
# Two lines stay in each config, as mmengine allows a key in only one of a config's bases:
#   custom_imports: `ghostv2_mm` or `ghostv2_mm.engine`, which registers the hooks
#     (../_base_/models/ghostnetv2.py sets it for the GhostNetV2 configs);
#   default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook')): atomic checkpoints; every
#     library base sets default_hooks, so only a config below that base can change it.
custom_hooks = [dict(type='StepSeedHook'), dict(type='InvalidLossHook'),
                dict(type='ClassesCheckHook')]
