"""GhostNetV2 for OpenMMLab 2.x. Importing it registers its models, transforms and hooks
(``custom_imports=dict(imports=['ghostv2_mm'])``); without PyTorch only the runtime side
(``ghostv2_mm.deploy.infer``) is usable."""
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
