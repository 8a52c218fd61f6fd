"""Gates of the inference structure in the forms ONNX Runtime runs in its blocked layout.

ONNX Runtime's CPU provider keeps a graph in its blocked channel layout (NCHWc) only through ops
it has blocked kernels for: convolutions and poolings with constant attributes, ``Upsample``
(a nearest ``Resize``) with constant integer scales, and element-wise ``Mul``/``Add`` of two
blocked tensors of one shape. Two gates of GhostNetV2 fall outside that, and each puts the
tensors around it back into the plain layout, with a reorder before and after:

- the SE gate is (N, C, 1, 1) and multiplies (N, C, H, W) by broadcasting;
- the DFC gate of an odd-sized map is resized by a non-integer factor (a 7x7 map is pooled to
  3x3, whose nearest up-sampling to 7x7 is not a whole multiple).

:class:`BlockedSqueezeExcite` up-samples the SE gate to the features' size before multiplying
(nearest from 1x1: the same values); :class:`BlockedDFCAttention` resizes its gate by whole
factors only (:func:`nearest_resize`). Both are exact. The forms fix sizes when the graph is
traced, so they apply only inside :func:`blocked_gates`, which the exports of static fp32 files
enter (a dynamic graph computes the resize sizes at run time, which ONNX Runtime's blocked
``Upsample`` does not take either; an int8 graph runs in ONNX Runtime's NHWC int8 kernels, where
the up-sampled SE gates only add work); elsewhere the modules compute what
:class:`SqueezeExcite` and :class:`DeployDFCAttention` compute.

The files ONNX Runtime quantises take one more form, inside :func:`conv_pooling`: the DFC
branch's 2x2 average pooling as a depthwise 2x2 conv of stride 2 with weights 1/4 (the same
values, up to the order of a four-term sum). ONNX Runtime's int8 average pooling runs a generic
kernel, its int8 depthwise conv (the weight 1/4 is exact in int8) an optimised one.
"""
import contextlib
import threading

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..layers.dfc_attention import GATES
from ..layers.ghost_bottleneck import SqueezeExcite
from .reparam import DeployDFCAttention

_state = threading.local()
# The largest (h * w) gate resized to a non-multiple size through a whole-factor up-sampling to
# (h * H, w * W): that map has h * w times the output's pixels. Larger gates of odd-sized maps
# take the edge-padding route: the 3x3 -> 7x7 gates of a 224 classifier are up-sampled, the
# 6x6 -> 13x13 gates of the YOLOv3 backbone at 416 padded (the faster route for each here).
MAX_UPSAMPLED_GATE = 16


@contextlib.contextmanager
def _switched(name, enabled):
    previous = getattr(_state, name, False)
    setattr(_state, name, enabled)
    try:
        yield
    finally:
        setattr(_state, name, previous)


def blocked_gates(enabled=True):
    """Within this context (and ``enabled``), the blocked-layout gates take their fixed-size
    forms: for tracing a static fp32 graph."""
    return _switched('blocked_gates', enabled)


def blocked_gates_enabled():
    return getattr(_state, 'blocked_gates', False)


def conv_pooling(enabled=True):
    """Within this context (and ``enabled``), :class:`BlockedDFCAttention` computes its 2x2
    average pooling as a depthwise conv: for tracing the files ONNX Runtime quantises."""
    return _switched('conv_pooling', enabled)


def conv_pooling_enabled():
    return getattr(_state, 'conv_pooling', False)


def nearest_resize(x, size):
    """``F.interpolate(x, size, mode='nearest')`` through resizes by whole factors only.

    Nearest resizing from h to H takes source row ``floor(i * h / H)`` for output row i. When
    H is not a multiple of h, that is row ``i * h`` of x up-sampled by H (source row
    ``floor(i * h / H)``), so an up-sampling by (H, W) followed by a 1x1 max pooling with
    stride (h, w) (which picks those rows and columns) gives the same values; for the larger
    gates of odd-sized maps (H = 2h + 1, the 2x2 pooling drops the last row), row i is row
    ``floor((i - 1) / 2)`` (row 0 for i = 0) of x up-sampled by 2, which an edge padding of one
    row and column at the start gives without the (h * H, w * W) map (ONNX Runtime runs the
    padding in its plain layout)."""
    h, w = (int(s) for s in x.shape[-2:])
    height, width = (int(s) for s in size)
    if (h, w) == (height, width):
        return x
    if height % h == 0 and width % w == 0:
        return F.interpolate(x, size=(height, width), mode='nearest')
    if h * w <= MAX_UPSAMPLED_GATE:
        up = F.interpolate(x, size=(h * height, w * width), mode='nearest')
        return F.max_pool2d(up, kernel_size=1, stride=(h, w))
    if (height, width) == (2 * h + 1, 2 * w + 1):
        up = F.interpolate(x, size=(2 * h, 2 * w), mode='nearest')
        return F.pad(up, (1, 0, 1, 0), mode='replicate')
    return F.interpolate(x, size=(height, width), mode='nearest')


class BlockedSqueezeExcite(SqueezeExcite):
    """:class:`SqueezeExcite` whose gate is up-sampled to the features' size in static-shape
    exports, so that the multiply has operands of one shape (the same layers and names).

    Args:
        se (SqueezeExcite): The module to convert.
    """

    def __init__(self, se):
        nn.Module.__init__(self)
        for name in ('avg_pool', 'conv_reduce', 'act1', 'conv_expand', 'gate'):
            setattr(self, name, getattr(se, name))

    def forward(self, x):
        scale = self.excite(x)
        if blocked_gates_enabled():
            scale = F.interpolate(scale, size=x.shape[-2:], mode='nearest')
        return x * scale


class BlockedDFCAttention(DeployDFCAttention):
    """:class:`DeployDFCAttention` whose nearest up-sampling of the gate goes through whole
    factors only (:func:`nearest_resize`) in static-shape exports. The scaling function is
    element-wise, so applying it before or after a nearest resize gives the same gate.

    Args:
        attn (DeployDFCAttention): The module to convert.
    """

    def __init__(self, attn):
        nn.Module.__init__(self)
        for name in ('gate', 'gate_position', 'down_mode', 'up_mode', 'proj', 'fc_h', 'fc_v'):
            setattr(self, name, getattr(attn, name))
        # The 2x2 average pooling as a depthwise conv (conv_pooling); not saved: a constant.
        channels, weight = self.proj.in_channels, self.proj.weight
        self.register_buffer(
            'pool_weight', torch.full((channels, 1, 2, 2), 0.25, dtype=weight.dtype,
                                      device=weight.device), persistent=False)

    def down(self, x):
        h, w = x.shape[-2:]
        if not (conv_pooling_enabled() and self.down_mode == 'avg' and h >= 2 and w >= 2):
            return super().down(x)
        return F.conv2d(x, self.pool_weight, stride=2, groups=self.pool_weight.shape[0])

    def forward(self, x, size=None):
        if not (blocked_gates_enabled() and self.up_mode == 'nearest'):
            return super().forward(x, size)
        size = x.shape[-2:] if size is None else size
        return nearest_resize(GATES[self.gate](self.attention(x)), size)


def to_blocked_gates(model):
    """Replace every SE and deployed DFC attention in ``model`` (in place) by its blocked-layout
    form; returns ``model``."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if type(child) is SqueezeExcite:
                setattr(module, name, BlockedSqueezeExcite(child))
            elif type(child) is DeployDFCAttention:
                setattr(module, name, BlockedDFCAttention(child))
    return model
