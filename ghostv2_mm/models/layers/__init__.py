from .dfc_attention import DFCAttention
from .ghost_bottleneck import GhostBottleneck, SqueezeExcite
from .ghost_module import GhostModule

__all__ = ['DFCAttention', 'GhostModule', 'GhostBottleneck', 'SqueezeExcite']
