"""Registries of ghostv2_mm.

``MODELS`` is a child of mmengine's root registry with the scope ``ghostv2_mm``, so
``type='ghostv2_mm.GhostNetV2'`` resolves from any OpenMMLab library. Modules are also added to the
root registry itself: mmdet, mmseg and mmpretrain look names up in their own registry and then in
its parents, so a plain ``type='GhostNetV2'`` builds from their configs too.
"""
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
