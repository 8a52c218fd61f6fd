import torch.nn as nn
import torch.utils.checkpoint as cp

from ...utils import make_divisible
from .ghost_module import GhostModule, build_act, conv_norm_act


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation of the Ghost bottleneck: global pooling, 1x1 reduce to
    ``make_divisible(channels * se_ratio, 4)``, activation, 1x1 expand, hard-sigmoid gate.

    Args:
        channels (int): Channels of the gated features.
        se_ratio (float): Reduction ratio. Defaults to 0.25.
        act_cfg (dict): Activation between the convs. Defaults to ``dict(type='ReLU')``.
    """

    def __init__(self, channels, se_ratio=0.25, act_cfg=dict(type='ReLU')):
        super().__init__()
        reduced = make_divisible(channels * se_ratio, 4)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act1 = build_act(act_cfg)
        self.conv_expand = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def excite(self, x):
        return self.gate(self.conv_expand(self.act1(self.conv_reduce(self.avg_pool(x)))))

    def forward(self, x):
        return x * self.excite(x)


class GhostBottleneck(nn.Module):
    """Ghost bottleneck (GhostNet Fig. 2) and GhostV2 bottleneck (GhostNetV2 Fig. 4b): Ghost
    module (expansion) -> [depthwise conv-BN if stride 2] -> [SE] -> Ghost module (projection),
    plus a shortcut (identity, or depthwise conv-BN + 1x1 conv-BN when the shape changes).

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Expanded channels.
        out_channels (int): Output channels.
        dw_kernel_size (int): Kernel of the strided depthwise conv and the shortcut. Defaults to 3.
        stride (int): Stride of the block in the network's table (1 or 2). Defaults to 1.
        dilation (int): Above 1 the block runs atrous: stride 1, spatial convs dilated.
            Defaults to 1.
        se_ratio (float): SE reduction ratio; 0 disables SE. Defaults to 0.
        dfc_position (str | None): Ghost module(s) with DFC attention: ``'expansion'``
            ("expressiveness"), ``'output'`` ("capacity"), ``'both'`` or None. Defaults to None.
        dfc_cfg (dict, optional): Arguments of :class:`DFCAttention`. Defaults to None.
        conv_cfg (dict, optional): Config of conv layers. Defaults to None.
        norm_cfg (dict): Config of norm layers. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation. Defaults to ``dict(type='ReLU')``.
        with_cp (bool): Use gradient checkpointing to save memory. Defaults to False.
    """

    def __init__(self,
                 in_channels,
                 mid_channels,
                 out_channels,
                 dw_kernel_size=3,
                 stride=1,
                 dilation=1,
                 se_ratio=0.,
                 dfc_position=None,
                 dfc_cfg=None,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 with_cp=False):
        super().__init__()
        self.with_cp = with_cp
        self.stride = stride
        run_stride = 1 if dilation > 1 else stride
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        dfc_cfg = dict() if dfc_cfg is None else dfc_cfg

        self.ghost1 = GhostModule(
            in_channels, mid_channels, dilation=dilation, act_cfg=act_cfg,
            dfc_cfg=dfc_cfg if dfc_position in ('expansion', 'both') else None, **cfg)
        if stride > 1:
            self.conv_dw, self.bn_dw = conv_norm_act(mid_channels, mid_channels, dw_kernel_size,
                                                     run_stride, dilation, groups=mid_channels,
                                                     **cfg)
        self.se = SqueezeExcite(mid_channels, se_ratio, act_cfg) if se_ratio > 0 else None
        self.ghost2 = GhostModule(
            mid_channels, out_channels, dilation=dilation, act_cfg=None,
            dfc_cfg=dfc_cfg if dfc_position in ('output', 'both') else None, **cfg)

        if in_channels == out_channels and stride == 1:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                *conv_norm_act(in_channels, in_channels, dw_kernel_size, run_stride, dilation,
                               groups=in_channels, **cfg),
                *conv_norm_act(in_channels, out_channels, 1, **cfg))

    def _forward(self, x):
        out = self.ghost1(x)
        if self.stride > 1:
            out = self.bn_dw(self.conv_dw(out))
        if self.se is not None:
            out = self.se(out)
        out = self.ghost2(out)
        out += self.shortcut(x)
        return out

    def forward(self, x):
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)
