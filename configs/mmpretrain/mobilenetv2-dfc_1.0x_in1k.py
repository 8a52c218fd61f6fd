# MobileNetV2 1.0x + DFC attention (paper Table 4): mmpretrain's MobileNetV2 recipe and backbone,
# with a DFC attention map on the first conv of every inverted residual (ghostv2_mm.plugins).
_base_ = ['mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
          '../_base_/runtime/safety_hooks.py']

custom_imports = dict(imports=['ghostv2_mm.plugins.mobilenet_v2_dfc', 'ghostv2_mm.engine'],
                      allow_failed_imports=False)

model = dict(backbone=dict(type='MobileNetV2DFC'))

# Atomic checkpoints; the other safety hooks come from ../_base_/runtime/safety_hooks.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
