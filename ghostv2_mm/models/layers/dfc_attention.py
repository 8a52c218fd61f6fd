import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer, fuse_conv_bn

from ...ops import fused_dfc, fused_dfc_available, fused_dfc_supported
from ...registry import register_model
from ...utils import check_choice

_GATES = {
    'sigmoid': torch.sigmoid,
    'hard_sigmoid': F.hardsigmoid,
    'clip': lambda x: x.clamp(0., 1.),
}
_DOWN_MODES = ('avg', 'max', 'bilinear')
_UP_MODES = ('nearest', 'bilinear', 'bicubic')
# Deploy mode runs the two FCs as one k x k depthwise conv on maps up to this area (the one conv
# costs 25 instead of 10 multiply-adds a pixel but saves a call, which is what dominates on small
# maps; on 2 CPU cores the one conv is ahead on 28x28 maps and behind from about 40x40).
_MERGED_FC_MAX_AREA = 32 * 32


@register_model
class DFCAttention(nn.Sequential):
    """Decoupled fully connected (DFC) attention of GhostNetV2 (paper Eq. 4-5, Fig. 4).

    The input is down-sampled by 2 in both directions, projected to ``out_channels`` by a 1x1
    conv-BN, then aggregated along the width by a depthwise ``(1, k)`` conv-BN ("horizontal FC")
    and along the height by a depthwise ``(k, 1)`` conv-BN ("vertical FC"). A scaling function
    turns the result into a gate that is resized to the size of the features it modulates.

    The layers are the children ``0``-``5`` (conv, norm, conv, norm, conv, norm), the layout of
    the official ``short_conv``, so official and timm weights load without renaming.

    Args:
        in_channels (int): Channels of the features the attention is computed from.
        out_channels (int): Channels of the attention map (of the features it modulates).
        kernel_size (int | tuple[int, int]): Length of the horizontal and vertical FCs; a tuple
            gives ``(horizontal, vertical)``. Defaults to 5 (the official code; the paper's Table 6
            explores per-stage sizes).
        gate (str): Scaling function, ``'sigmoid'``, ``'hard_sigmoid'`` or ``'clip'`` (to [0, 1]).
            Defaults to ``'sigmoid'``.
        gate_position (str): Apply the scaling function ``'before'`` or ``'after'`` up-sampling
            (paper Table 9). Defaults to ``'before'``.
        down_mode (str): Down-sampling, ``'avg'`` / ``'max'`` pooling (2x2, stride 2) or
            ``'bilinear'`` interpolation to half size (Table 10). Defaults to ``'avg'``.
        up_mode (str): Up-sampling, ``'nearest'``, ``'bilinear'`` or ``'bicubic'`` (Table 10).
            Defaults to ``'nearest'`` (the official code).
        dilation (int): Dilation of the horizontal and vertical FCs, for dilated stages.
            Defaults to 1.
        conv_cfg (dict, optional): Config of the conv layers. Defaults to None (``Conv2d``).
        norm_cfg (dict): Config of the norm layers. Defaults to ``dict(type='BN')``.
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 kernel_size=5,
                 gate='sigmoid',
                 gate_position='before',
                 down_mode='avg',
                 up_mode='nearest',
                 dilation=1,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN')):
        check_choice('gate', gate, tuple(_GATES))
        check_choice('gate_position', gate_position, ('before', 'after'))
        check_choice('down_mode', down_mode, _DOWN_MODES)
        check_choice('up_mode', up_mode, _UP_MODES)
        kh, kv = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        for k in (kh, kv):
            if not (isinstance(k, int) and k >= 1 and k % 2 == 1):
                raise ValueError('kernel_size must be a positive odd int or a pair of them, '
                                 f'but received {kernel_size!r}')
        if not (isinstance(dilation, int) and dilation >= 1):
            raise ValueError(f'dilation must be a positive int, but received {dilation!r}')

        def fc(kernel, padding):
            return build_conv_layer(conv_cfg, out_channels, out_channels, kernel, 1, padding,
                                    dilation=dilation, groups=out_channels, bias=False)

        super().__init__(
            build_conv_layer(conv_cfg, in_channels, out_channels, 1, bias=False),
            build_norm_layer(norm_cfg, out_channels)[1],
            fc((1, kh), (0, dilation * (kh // 2))),
            build_norm_layer(norm_cfg, out_channels)[1],
            fc((kv, 1), (dilation * (kv // 2), 0)),
            build_norm_layer(norm_cfg, out_channels)[1],
        )
        self.gate = gate
        self.gate_position = gate_position
        self.down_mode = down_mode
        self.up_mode = up_mode
        # Deploy only (switch_to_deploy): buffers, so that they follow the module's device, dtype
        # and memory format, but not weights of the checkpoints.
        self.register_buffer('merged_fc', None, persistent=False)
        for name in ('fused_conv', 'fused_hfc', 'fused_vfc'):
            self.register_buffer(name, None, persistent=False)
        self._fused_args = None

    def downsample(self, x):
        h, w = x.shape[-2:]
        # A side of length 1 (e.g. stride 32 of a 32-pixel input) is kept rather than failing.
        # Literal ints, not min(side, 2), which would hand a traced size to the ONNX exporter.
        kernel = tuple(2 if side >= 2 else 1 for side in (h, w))
        if self.down_mode == 'avg':
            return F.avg_pool2d(x, kernel_size=kernel, stride=kernel)
        if self.down_mode == 'max':
            return F.max_pool2d(x, kernel_size=kernel, stride=kernel)
        return F.interpolate(x, size=(max(h // 2, 1), max(w // 2, 1)), mode='bilinear',
                             align_corners=False)

    def upsample(self, x, size):
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        align = None if self.up_mode == 'nearest' else False
        return F.interpolate(x, size=size, mode=self.up_mode, align_corners=align)

    def logits(self, x):
        """The attention before the scaling function, at the down-sampled size."""
        return self.fcs(self[1](self[0](self.downsample(x))))

    def fcs(self, x):
        """The horizontal and vertical FCs, each conv-BN (one merged conv in deploy mode)."""
        h, w = x.shape[-2:]
        if self.merged_fc is None or torch.jit.is_tracing() or h * w > _MERGED_FC_MAX_AREA:
            return self[5](self[4](self[3](self[2](x))))
        return F.conv2d(x, self.merged_fc, None, 1, self.merged_padding, self[2].dilation,
                        x.shape[1]).add_(self._row_bias(h, x))

    def _row_bias(self, h, x):
        # The horizontal FC's bias b1 enters the vertical FC, whose zero padding sums it over the
        # taps that fall inside the map: b1 * sum(valid taps) + b2, a function of the row only.
        key = (h, x.dtype, x.device)
        if key not in self._row_biases:
            hfc, vfc = self[2], self[4]
            with torch.no_grad():
                ones = x.new_ones(1, x.shape[1], h, 1)
                taps = F.conv2d(ones, vfc.weight, None, 1, vfc.padding, vfc.dilation, vfc.groups)
                bias = taps * hfc.bias.view(-1, 1, 1) + vfc.bias.view(-1, 1, 1)
            self._row_biases[key] = bias
        return self._row_biases[key]

    def switch_to_deploy(self, fused=True):
        """Inference-only conversion: fold each BN into its conv (mmcv's ``fuse_conv_bn``), then
        run the attention with fewer calls.

        With ``fused`` (and the compiled operator built, :mod:`ghostv2_mm.ops`), :meth:`modulate`
        computes the whole branch and the gating multiply in one call on channels-last float32 CPU
        tensors. Otherwise, and for other inputs, the horizontal and vertical FCs are merged into
        one depthwise conv, whose kernel is their outer product, on down-sampled maps small enough
        that one call beats two (``_MERGED_FC_MAX_AREA``); exact, as the horizontal FC's bias,
        which the vertical FC's zero padding makes row-dependent, is added as a per-size map
        (cached). Tracing (ONNX export) runs the unmerged layers, whose graph holds for any size.
        Norm layers other than BN cannot be folded and leave the module as it is.

        Args:
            fused (bool): Use the fused operator where it applies. Defaults to True.
        """
        fuse_conv_bn(self)
        if not all(isinstance(self[i], nn.Identity) for i in (1, 3, 5)):
            return self
        conv, hfc, vfc = self[0], self[2], self[4]
        self.merged_fc = (vfc.weight * hfc.weight).detach()
        self.merged_padding = (vfc.padding[0], hfc.padding[1])
        self._row_biases = {}
        if (fused and fused_dfc_available() and self.up_mode == 'nearest'
                and self.down_mode in ('avg', 'max')):
            # Transposed so that the operator reads channels contiguously.
            self.fused_conv = conv.weight.detach().flatten(1).t().contiguous()
            self.fused_hfc = hfc.weight.detach().flatten(1).t().contiguous()
            self.fused_vfc = vfc.weight.detach().flatten(1).t().contiguous()
        return self

    def _apply(self, fn, *args, **kwargs):
        self._fused_args = None
        return super()._apply(fn, *args, **kwargs)

    def forward(self, x, size=None):
        """Compute the attention map of ``x``.

        Args:
            x (Tensor): Input features, (N, in_channels, H, W).
            size (tuple[int, int], optional): (H, W) of the features the map will multiply.
                Defaults to the size of ``x``.

        Returns:
            Tensor: The gate, (N, out_channels, *size).
        """
        size = tuple(x.shape[-2:]) if size is None else tuple(size)
        attn = self.logits(x)
        gate = _GATES[self.gate]
        if self.gate_position == 'before':
            return self.upsample(gate(attn), size)
        return gate(self.upsample(attn, size))

    def modulate(self, feats, x, inplace=False):
        """``feats * self(x, feats.shape[-2:])``: the features modulated by the attention of ``x``.

        Args:
            feats (Tensor): The features to modulate, (N, out_channels, H, W).
            x (Tensor): The input of the attention, (N, in_channels, H', W').
            inplace (bool): Write the result into ``feats`` (for callers that own it, such as
                a Ghost module's freshly concatenated output). Defaults to False.
        """
        fused = self._fused_args
        if fused is None and self.fused_conv is not None:
            # Gathered once (module attribute lookups cost as much as a small pass of the
            # operator); _apply drops them when .to() and the like replace the tensors.
            fused = self._fused_args = (
                self.fused_conv, self[0].bias, self.fused_hfc, self[2].bias, self.fused_vfc,
                self[4].bias, self[2].dilation[0], self.down_mode, self.gate)
        if fused is not None and fused_dfc_supported(x, feats):
            # Nearest up-sampling commutes with the scaling function: either gate position.
            return fused_dfc(x, feats, *fused, inplace=inplace)
        if self.gate_position == 'after':
            mul = torch.Tensor.mul_ if inplace else torch.mul
            return mul(feats, self(x, feats.shape[-2:]))
        return self.multiply(feats, _GATES[self.gate](self.logits(x)), inplace)

    def multiply(self, feats, gate, inplace=False):
        """``feats`` times ``gate`` up-sampled to their size.

        When that is a nearest 2x up-sampling and ``feats`` is contiguous (NCHW or channels-last),
        the gate is broadcast over 2x2 blocks instead: the same products, without materialising
        the full-size map (and PyTorch's nearest up-sampling is slow for NCHW on CPU). Tracing
        (ONNX export) up-samples, a graph that holds for any input size.
        """
        n, c, h, w = feats.shape
        mul = torch.Tensor.mul_ if inplace else torch.mul
        channels_last = not feats.is_contiguous()
        if (torch.jit.is_tracing() or self.up_mode != 'nearest' or h % 2 or w % 2
                or tuple(gate.shape[-2:]) != (h // 2, w // 2)
                or channels_last and not feats.is_contiguous(memory_format=torch.channels_last)):
            return mul(feats, self.upsample(gate, (h, w)))
        if channels_last:  # (n, h, w, c) in memory
            blocks = feats.permute(0, 2, 3, 1).view(n, h // 2, 2, w // 2, 2, c)
            gate = gate.permute(0, 2, 3, 1).reshape(n, h // 2, 1, w // 2, 1, c)
            return mul(blocks, gate).view(n, h, w, c).permute(0, 3, 1, 2)
        gate = gate[..., None].expand(n, c, h // 2, w // 2, 2).reshape(n, c, h // 2, 1, w)
        return mul(feats.view(n, c, h // 2, 2, w), gate).view(n, c, h, w)


@register_model
class DFCGate(nn.Module):
    """Plug-in form of DFC attention: multiplies the output of ``module`` by the DFC attention map
    of its input, as GhostNetV2 does with its first Ghost module (paper Table 4 adds it to
    MobileNetV2 this way).

    Args:
        module (nn.Module): The wrapped layer, e.g. an expansion conv.
        in_channels (int): Input channels of ``module``.
        out_channels (int): Output channels of ``module``.
        **dfc_cfg: Arguments of :class:`DFCAttention`.
    """

    def __init__(self, module, in_channels, out_channels, **dfc_cfg):
        super().__init__()
        self.module = module
        self.attn = DFCAttention(in_channels, out_channels, **dfc_cfg)

    def forward(self, x):
        return self.attn.modulate(self.module(x), x)
