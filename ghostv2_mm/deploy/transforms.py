"""Export transforms: the inference structure of GhostNetV2 (BN folded, ``switch_to_deploy``) in
the forms a runtime runs fastest, all exact. Each takes a model, changes it in place where it can
and returns the model to export. Which runtime gets which is
:data:`ghostv2_mm.deploy.profiles.TRANSFORMS`; docs/deployment.md and docs/performance.md say why.

- :func:`pad_channels`: Ghost modules' halves (``ceil(c / 2)`` channels) padded with zeros to
  blocks of 16: ONNX Runtime runs a conv or ``Concat`` in its blocked layout (NCHWc) only then.
- :func:`blocked_gates`: SE and DFC gates through ops it keeps in that layout (a nearest
  ``Resize`` by constant integer scales, a ``Mul`` of two tensors of one shape); static files.
- :func:`conv_pooling`: the DFC average pooling as a depthwise conv (ONNX Runtime int8).
- :func:`channels_last`: weights in the NHWC layout oneDNN's CPU convs work in (PyTorch).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.backbones import GhostNetV2
from ..models.deploy import DeployDFCAttention, replace_modules
from ..models.layers.dfc_attention import GATES
from ..models.layers.ghost_bottleneck import SqueezeExcite


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
    new.weight[index_out[:, None], index_in] = conv.weight
    if conv.bias is not None:
        new.bias[index_out] = conv.bias
    return new


@torch.no_grad()
def _depthwise(conv, layout):
    """``conv`` (depthwise) over ``layout``, keeping its first ``len(index)`` channels: the cheap
    conv's channels beyond the module's output, which the module slices off, become zeros."""
    index, size = layout
    if not conv.groups == conv.in_channels == conv.out_channels >= len(index):
        raise ValueError('expected a depthwise conv over the layout\'s channels')
    new = _conv(conv, size, size, size)
    new.weight[index] = conv.weight[:len(index)]
    if conv.bias is not None:
        new.bias[index] = conv.bias[:len(index)]
    return new


def _plain(channels):
    return torch.arange(channels), channels


def _ghost_layout(init, out, multiple):
    """The output layout of a Ghost module of ``init`` intrinsic and ``out`` output channels:
    output channel j < init is intrinsic channel j, channel j >= init cheap channel j - init."""
    size = _round_up(init, multiple)
    return torch.cat([torch.arange(init), size + torch.arange(out - init)]), 2 * size


def _pad_ghost(module, layout_in, multiple):
    """Pad a (BN-folded) Ghost module whose input has ``layout_in``; returns its output's."""
    init = module.primary_conv[0].out_channels
    if module.cheap_operation[0].out_channels != init:
        raise ValueError('channel padding needs Ghost modules with ratio 2')
    layout_out = _ghost_layout(init, module.out_channels, multiple)
    size = layout_out[1] // 2
    module.primary_conv[0] = _dense(module.primary_conv[0], layout_in, (torch.arange(init), size))
    module.cheap_operation[0] = _depthwise(module.cheap_operation[0],
                                           (torch.arange(module.out_channels - init), size))
    module.out_channels = 2 * size
    if module.short_conv is not None:
        attn = module.short_conv
        attn.proj = _dense(attn.proj, layout_in, layout_out)
        attn.fc_h = _depthwise(attn.fc_h, layout_out)
        attn.fc_v = _depthwise(attn.fc_v, layout_out)
    return layout_out


def _pad_bottleneck(block, layout_in, multiple):
    layout_mid = _pad_ghost(block.ghost1, layout_in, multiple)
    if block.stride > 1:
        block.conv_dw = _depthwise(block.conv_dw, layout_mid)
    if block.se is not None:
        se = block.se
        reduced = se.conv_reduce.out_channels
        layout_se = (torch.arange(reduced), _round_up(reduced, multiple))
        se.conv_reduce = _dense(se.conv_reduce, layout_mid, layout_se)
        se.conv_expand = _dense(se.conv_expand, layout_se, layout_mid)
    layout_out = _pad_ghost(block.ghost2, layout_mid, multiple)
    convs = [i for i, m in enumerate(block.shortcut) if isinstance(m, nn.Conv2d)]
    if convs:  # depthwise conv, then 1x1 conv
        block.shortcut[convs[0]] = _depthwise(block.shortcut[convs[0]], layout_in)
        block.shortcut[convs[1]] = _dense(block.shortcut[convs[1]], layout_in, layout_out)
    elif not (torch.equal(layout_in[0], layout_out[0]) and layout_in[1] == layout_out[1]):
        raise ValueError('an identity shortcut needs the same layout at input and output')
    return layout_out


def find_backbone(model):
    """The deployed GhostNetV2 of ``model`` (itself, ``model.backbone`` or the backbone a
    :class:`SelectOutputs` wraps), or None."""
    for candidate in (model, getattr(model, 'backbone', None)):
        if isinstance(candidate, SelectOutputs):
            candidate = candidate.backbone
        if isinstance(candidate, GhostNetV2):
            if not candidate.deploy:
                raise ValueError('export transforms take the inference structure: call '
                                 'switch_to_deploy() (or build with deploy=True) first')
            return candidate
    return None


class SelectOutputs(nn.Module):
    """A padded backbone whose outputs are gathered back to their real channels.

    Args:
        backbone (GhostNetV2): The padded network.
        selects (list[ChannelSelect | None]): Per output, its real channels (None: unpadded).
    """

    def __init__(self, backbone, selects):
        super().__init__()
        self.backbone = backbone
        self.selects = nn.ModuleList([s if s is not None else nn.Identity() for s in selects])

    def forward(self, x):
        return tuple(select(out) for select, out in zip(self.selects, self.backbone(x)))


def pad_channels(model, multiple=16):
    """Pad the Ghost modules of the deployed GhostNetV2 in ``model`` to multiples of
    ``multiple`` channels; returns the model, whose backbone is now a :class:`SelectOutputs`
    (a model without a GhostNetV2 as it is)."""
    if not (isinstance(multiple, int) and not isinstance(multiple, bool) and multiple >= 2):
        raise ValueError(f'multiple must be an int >= 2, but received {multiple!r}')
    backbone = find_backbone(model)
    if backbone is None or SelectOutputs in (type(model), type(getattr(model, 'backbone', None))):
        return model  # nothing to pad, or padded already
    first = backbone.blocks[0][0]
    stem_channels = backbone.conv_stem.out_channels
    if hasattr(first, 'ghost1') and len(first.shortcut) == 0:
        # The first block keeps its input's layout: the stem writes the block's output layout.
        layout = _ghost_layout(first.ghost2.primary_conv[0].out_channels, stem_channels, multiple)
    else:
        layout = _plain(stem_channels)
    backbone.conv_stem = _dense(backbone.conv_stem, _plain(3), layout)
    selects = {}
    for i, stage in enumerate(backbone.blocks):
        for block in stage:
            if hasattr(block, 'ghost1'):
                layout = _pad_bottleneck(block, layout, multiple)
            else:  # the final 1x1 conv-BN-act
                block.conv = _dense(block.conv, layout, _plain(block.conv.out_channels))
                layout = _plain(block.conv.out_channels)
        index, size = layout
        if not torch.equal(index, torch.arange(size)):
            selects[i] = ChannelSelect(index)
    wrapped = SelectOutputs(backbone, [selects.get(i) for i in backbone.out_indices])
    if model is backbone:
        return wrapped
    model.backbone = wrapped
    return model


# The largest (h * w) gate resized to a non-multiple size through the (h * H, w * W) map, which
# has h * w times the output's pixels; larger gates of odd-sized maps take the edge padding.
MAX_UPSAMPLED_GATE = 16


def nearest_resize(x, size):
    """``F.interpolate(x, size, mode='nearest')`` through resizes by whole factors only.

    Output row i is source row ``floor(i * h / H)``: row ``i * h`` of x up-sampled by H, so an
    up-sampling by (H, W) and a 1x1 max pooling of stride (h, w) give the same values. For
    H = 2h + 1 (odd-sized maps, whose 2x2 pooling dropped the last row) it is row
    ``max(i - 1, 0) // 2`` of x up-sampled by 2: an edge padding of one row and column."""
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
    """:class:`SqueezeExcite` whose gate is up-sampled to the features' size before the
    multiply (the same values, layers and names).

    Args:
        se (SqueezeExcite): The module to convert.
    """

    def __init__(self, se):
        nn.Module.__init__(self)
        for name in ('avg_pool', 'conv_reduce', 'act1', 'conv_expand', 'gate'):
            setattr(self, name, getattr(se, name))

    def forward(self, x):
        return x * F.interpolate(self.excite(x), size=x.shape[-2:], mode='nearest')


class BlockedDFCAttention(DeployDFCAttention):
    """:class:`DeployDFCAttention` whose gate is up-sampled by :func:`nearest_resize` (after the
    element-wise scaling function)."""

    def forward(self, x, size=None):
        size = x.shape[-2:] if size is None else size
        return nearest_resize(GATES[self.gate](self.attention(x)), size)


class ConvPoolDFCAttention(DeployDFCAttention):
    """:class:`DeployDFCAttention` whose 2x2 average pooling is a depthwise 2x2 conv of stride 2
    with weights 1/4 (the same values, up to the order of a four-term sum)."""

    def __init__(self, attn):
        super().__init__(attn)
        channels, weight = self.proj.in_channels, self.proj.weight
        self.register_buffer(
            'pool_weight', torch.full((channels, 1, 2, 2), 0.25, dtype=weight.dtype,
                                      device=weight.device), persistent=False)

    def down(self, x):
        h, w = x.shape[-2:]
        if h < 2 or w < 2:
            return super().down(x)
        return F.conv2d(x, self.pool_weight, stride=2, groups=self.pool_weight.shape[0])


def _swap(model, swaps):
    """``model`` with its GhostNetV2's modules replaced (:func:`replace_modules`)."""
    backbone = find_backbone(model)
    if backbone is not None:
        replace_modules(backbone, swaps)
    return model


def blocked_gates(model):
    """``model`` with its GhostNetV2's SE (and DFC attention that up-samples by nearest
    resizing) as :class:`BlockedSqueezeExcite` (:class:`BlockedDFCAttention`)."""
    def blocked_dfc(attn):
        return BlockedDFCAttention(attn) if attn.up_mode == 'nearest' else attn
    return _swap(model, {SqueezeExcite: BlockedSqueezeExcite, DeployDFCAttention: blocked_dfc})


def conv_pooling(model):
    """``model`` with its GhostNetV2's average-pooling DFC attention as
    :class:`ConvPoolDFCAttention`."""
    def conv_pool(attn):
        return ConvPoolDFCAttention(attn) if attn.down_mode == 'avg' else attn
    return _swap(model, {DeployDFCAttention: conv_pool})


def channels_last(model):
    """``model`` with its weights in the channels-last (NHWC) layout (inputs in that layout
    keep it through the network)."""
    return model.to(memory_format=torch.channels_last)
