"""Channel padding of the inference structure for runtimes with blocked channel layouts.

ONNX Runtime's CPU provider runs a convolution in its fast blocked layout (NCHWc, 16 channels
per block with AVX-512) only when its input channels, and for depthwise convs its channels, are
multiples of the block size, and a ``Concat`` only when each input is. A Ghost module makes
``ceil(c / 2)`` intrinsic channels (8, 12, 20, 36, 60, ... in GhostNetV2 1.0x) and concatenates
them with as many cheap ones, so most of its layers fall back to the plain layout, with a
reorder before and after each.

:func:`pad_channels` makes every Ghost module's intrinsic and cheap halves a whole number of
blocks by adding zero channels: the primary conv gets zero output filters, the cheap depthwise
conv zero kernels, and every layer that reads a padded tensor (the next 1x1 convs, the DFC
projection, depthwise convs, SE) zero weights for the added channels. The added channels hold
exact zeros (zero weights and bias, ReLU(0) = 0, and the DFC and SE gates multiply them), so the
network computes what it computed before; the multi-scale outputs are gathered back to their
real channels. Exact re-parameterisation, measured faster in ONNX Runtime and slower in
OpenVINO (``docs/performance.md``), so the deployment tools apply it for ONNX Runtime only.
"""

import torch
import torch.nn as nn


class ChannelSelect(nn.Module):
    """The real channels of a padded feature map (an ONNX ``Gather`` on the channel axis)."""

    def __init__(self, index):
        super().__init__()
        self.register_buffer('index', index, persistent=False)

    def forward(self, x):
        return x.index_select(1, self.index)


def _round_up(n, multiple):
    return (n + multiple - 1) // multiple * multiple


def _conv(conv, in_channels, out_channels, groups):
    new = nn.Conv2d(in_channels, out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, groups, bias=True).to(conv.weight.dtype)
    nn.init.zeros_(new.weight)
    nn.init.zeros_(new.bias)
    return new


@torch.no_grad()
def _dense(conv, layout_in, layout_out):
    """``conv`` (groups 1) reading channels ``layout_in`` and writing ``layout_out``; a layout
    is ``(index of the real channels, padded channel count)``."""
    (index_in, size_in), (index_out, size_out) = layout_in, layout_out
    if conv.groups != 1:
        raise ValueError(f'expected a dense conv, got groups={conv.groups}')
    new = _conv(conv, size_in, size_out, 1)
    weight = conv.weight.new_zeros(len(index_out), size_in, *conv.kernel_size)
    weight[:, index_in] = conv.weight
    new.weight[index_out] = weight
    if conv.bias is not None:
        new.bias[index_out] = conv.bias
    return new


@torch.no_grad()
def _depthwise(conv, layout):
    index, size = layout
    if not conv.groups == conv.in_channels == conv.out_channels == len(index):
        raise ValueError('expected a depthwise conv over the layout\'s channels')
    new = _conv(conv, size, size, size)
    new.weight[index] = conv.weight
    if conv.bias is not None:
        new.bias[index] = conv.bias
    return new


def _plain(channels):
    return torch.arange(channels), channels


def _pad_ghost(module, layout_in, multiple, min_channels):
    """Pad a (BN-folded) Ghost module whose input has ``layout_in``; returns its output's."""
    init = module.primary_conv[0].out_channels
    if module.cheap_operation[0].out_channels != init:
        raise ValueError('channel padding needs Ghost modules with ratio 2')
    out = module.out_channels
    size = _round_up(init, multiple) if init >= min_channels else init
    layout_init = (torch.arange(init), size)
    # Output channel j < init is intrinsic channel j, channel j >= init cheap channel j - init.
    index = torch.cat([torch.arange(init), size + torch.arange(out - init)])
    layout_out = (index, 2 * size)
    module.primary_conv[0] = _dense(module.primary_conv[0], layout_in, layout_init)
    module.cheap_operation[0] = _cheap(module.cheap_operation[0], out - init, size)
    module.out_channels = 2 * size
    if module.short_conv is not None:
        attn = module.short_conv
        attn.proj = _dense(attn.proj, layout_in, layout_out)
        attn.fc_h = _depthwise(attn.fc_h, layout_out)
        attn.fc_v = _depthwise(attn.fc_v, layout_out)
    return layout_out


@torch.no_grad()
def _cheap(conv, kept, size):
    """The cheap depthwise conv on ``size`` padded channels, of which it keeps its first ``kept``
    (cheap channels beyond ``out_channels``, which the module's slice drops, become zeros)."""
    new = _conv(conv, size, size, size)
    new.weight[:kept] = conv.weight[:kept]
    if conv.bias is not None:
        new.bias[:kept] = conv.bias[:kept]
    return new


def _pad_bottleneck(block, layout_in, multiple, min_channels):
    layout_mid = _pad_ghost(block.ghost1, layout_in, multiple, min_channels)
    if block.stride > 1:
        block.conv_dw = _depthwise(block.conv_dw, layout_mid)
    if block.se is not None:
        se = block.se
        reduced = se.conv_reduce.out_channels
        layout_se = (torch.arange(reduced), _round_up(reduced, multiple))
        se.conv_reduce = _dense(se.conv_reduce, layout_mid, layout_se)
        se.conv_expand = _dense(se.conv_expand, layout_se, layout_mid)
    layout_out = _pad_ghost(block.ghost2, layout_mid, multiple, min_channels)
    convs = [i for i, m in enumerate(block.shortcut) if isinstance(m, nn.Conv2d)]
    if convs:  # depthwise conv, then 1x1 conv
        block.shortcut[convs[0]] = _depthwise(block.shortcut[convs[0]], layout_in)
        block.shortcut[convs[1]] = _dense(block.shortcut[convs[1]], layout_in, layout_out)
    elif not (torch.equal(layout_in[0], layout_out[0]) and layout_in[1] == layout_out[1]):
        raise ValueError('an identity shortcut needs the same layout at input and output')
    return layout_out


def pad_channels(backbone, multiple=16, min_channels=1):
    """Pad the channels of a GhostNetV2 in its inference structure (BN folded) in place.

    Args:
        backbone (GhostNetV2): The network, after :func:`reparameterize`.
        multiple (int): Each Ghost module's intrinsic (and cheap) channels are rounded up to a
            multiple of this: the runtime's channel block (16 for ONNX Runtime with AVX-512).
        min_channels (int): Modules with fewer intrinsic channels stay as they are. Defaults to
            1, every module: padding GhostNetV2 1.0x's first block from 8 to 16 intrinsic
            channels doubles its work, but leaves the whole network in the blocked layout,
            which ONNX Runtime measured faster (docs/performance.md).

    Returns:
        dict[int, ChannelSelect]: For each stage index whose output is padded, the module that
        selects its real channels (``GhostNetV2.forward`` applies it to the requested outputs).
    """
    if not (isinstance(multiple, int) and multiple >= 2):
        raise ValueError(f'pad_channels must be an int >= 2, but received {multiple!r}')
    blocks = [block for stage in backbone.blocks for block in stage]
    first = blocks[0]
    stem_channels = backbone.conv_stem.out_channels
    if hasattr(first, 'ghost1') and len(first.shortcut) == 0:
        # The first block keeps its input's layout: the stem writes the block's output layout.
        init = first.ghost2.primary_conv[0].out_channels
        size = _round_up(init, multiple) if init >= min_channels else init
        layout = (torch.cat([torch.arange(init), size + torch.arange(stem_channels - init)]),
                  2 * size)
    else:
        layout = _plain(stem_channels)
    backbone.conv_stem = _dense(backbone.conv_stem, _plain(3), layout)
    selects = {}
    for i, stage in enumerate(backbone.blocks):
        for block in stage:
            if hasattr(block, 'ghost1'):
                layout = _pad_bottleneck(block, layout, multiple, min_channels)
            else:  # the final 1x1 conv-BN-act
                block.conv = _dense(block.conv, layout, _plain(block.conv.out_channels))
                layout = _plain(block.conv.out_channels)
        index, size = layout
        if not torch.equal(index, torch.arange(size)):
            selects[i] = ChannelSelect(index)
    return selects
