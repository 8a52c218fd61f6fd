"""Registries of ghostv2_mm: ``MODELS`` (scope ``ghostv2_mm``), a child of mmengine's root
registry, to which modules are also added, so that a plain ``type='GhostNetV2'`` builds from mmdet,
mmseg and mmpretrain configs too (they look names up in their registry, then in its parents)."""
import torch.nn as nn
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='ghostv2_mm',
                  locations=['ghostv2_mm.models'])


def register_model(cls):
    """Register ``cls`` in the ghostv2_mm scope and in mmengine's root registry."""
    MODELS.register_module(module=cls)
    MMENGINE_MODELS.register_module(module=cls)
    return cls


# mmcv's HSigmoid warns on every construction; torch's fused op computes the same relu6(x + 3) / 6.
if 'Hardsigmoid' not in MMENGINE_MODELS.module_dict:
    MMENGINE_MODELS.register_module(module=nn.Hardsigmoid)
