# Paper Table 5 baseline: DeepLabV3 + MobileNetV2 1.0x is mmseg's own config (plus the safety
# hooks; same schedule as deeplabv3_ghostv2_ade20k_512.py), kept here so the table re-runs
# from one folder.
_base_ = ['mmseg::mobilenet_v2/mobilenet-v2-d8_deeplabv3_4xb4-160k_ade20k-512x512.py',
          '../_base_/runtime/safety_hooks.py']

custom_imports = dict(imports=['ghostv2_mm.engine'], allow_failed_imports=False)

# Atomic checkpoints; the other safety hooks come from ../_base_/runtime/safety_hooks.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
