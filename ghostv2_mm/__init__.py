from . import datasets  # noqa: F401  registers the transforms
from .models import (DFCAttention, DFCGate, GhostBottleneck, GhostModule, GhostNetV2,
                     SqueezeExcite)
from .version import __version__

__all__ = ['GhostNetV2', 'DFCAttention', 'DFCGate', 'GhostModule', 'GhostBottleneck',
           'SqueezeExcite', '__version__']
