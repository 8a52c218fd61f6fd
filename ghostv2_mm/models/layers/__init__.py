from .dfc_attention import DFCAttention, DFCGate
from .ghost_bottleneck import GhostBottleneck, SqueezeExcite
from .ghost_module import GhostModule

__all__ = ['DFCAttention', 'DFCGate', 'GhostModule', 'GhostBottleneck', 'SqueezeExcite']
