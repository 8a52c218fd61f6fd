from .backbones import GhostNetV2
from .layers import DFCAttention, GhostBottleneck, GhostModule, SqueezeExcite

__all__ = ['GhostNetV2', 'DFCAttention', 'GhostModule', 'GhostBottleneck', 'SqueezeExcite']
