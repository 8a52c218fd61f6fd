"""GhostNetV2 for OpenMMLab 2.x.

Importing the package registers its models, transforms and hooks with the OpenMMLab registries
(``custom_imports=dict(imports=['ghostv2_mm'])`` in a config). Without PyTorch only the runtime
side is usable (``ghostv2_mm.deploy.infer``: a deployed model with ONNX Runtime or OpenVINO).
"""
from .version import __version__

try:
    import torch  # noqa: F401
except ImportError:  # a deployment target: runtimes, numpy and OpenCV only
    __all__ = ['__version__']
else:
    from . import datasets  # noqa: F401  registers the transforms
    from .checkpoint import register_mmengine_loaders
    from . import engine  # noqa: F401  registers the hooks
    from .models import (DFCAttention, DFCGate, GhostBottleneck, GhostModule, GhostNetV2,
                         SqueezeExcite)

    register_mmengine_loaders()  # mmengine loads checkpoints without running code from them

    __all__ = ['GhostNetV2', 'DFCAttention', 'DFCGate', 'GhostModule', 'GhostBottleneck',
               'SqueezeExcite', '__version__']
