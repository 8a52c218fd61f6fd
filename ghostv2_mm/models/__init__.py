from .backbones import GhostNetV2
from .layers import DFCAttention, DFCGate, GhostBottleneck, GhostModule, SqueezeExcite

__all__ = ['GhostNetV2', 'DFCAttention', 'DFCGate', 'GhostModule', 'GhostBottleneck',
           'SqueezeExcite']
