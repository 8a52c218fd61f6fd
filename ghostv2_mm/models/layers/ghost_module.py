import math

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer

from .dfc_attention import DFCAttention


def build_act(act_cfg):
    """The activation of ``act_cfg``, in place where the type allows it and the config does not
    say otherwise (mmcv ``ConvModule``'s rule): it saves a full-size tensor per call."""
    cfg = dict(act_cfg)
    if cfg['type'] not in ('Tanh', 'PReLU', 'Sigmoid', 'HSigmoid', 'Swish', 'GELU'):
        cfg.setdefault('inplace', True)
    return build_activation_layer(cfg)


def conv_norm_act(in_channels, out_channels, kernel_size, stride=1, dilation=1, groups=1,
                  conv_cfg=None, norm_cfg=dict(type='BN'), act_cfg=None):
    """``nn.Sequential(conv, norm[, act])``: the children ``0``/``1`` of the official layout."""
    padding = dilation * (kernel_size // 2)
    layers = [
        build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size, stride, padding,
                         dilation=dilation, groups=groups, bias=False),
        build_norm_layer(norm_cfg, out_channels)[1],
    ]
    if act_cfg is not None:
        layers.append(build_act(act_cfg))
    return nn.Sequential(*layers)


class GhostModule(nn.Module):
    """Ghost module (paper Eq. 1-2): a primary conv makes ``ceil(out_channels / ratio)``
    intrinsic features, a cheap depthwise conv "ghost" features from them, concatenated. With
    ``dfc_cfg``, a parallel :class:`DFCAttention` (``short_conv``) gates the output (Eq. 6).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        ratio (int): Ratio of output to intrinsic channels. Defaults to 2.
        kernel_size (int): Kernel size of the primary conv. Defaults to 1.
        dw_size (int): Kernel size of the cheap depthwise conv. Defaults to 3.
        dilation (int): Dilation of the cheap conv (and of the DFC FCs). Defaults to 1.
        dfc_cfg (dict, optional): Arguments of :class:`DFCAttention` but channels and
            ``dilation``; None: no attention (GhostNetV1). Defaults to None.
        conv_cfg (dict, optional): Config of conv layers. Defaults to None.
        norm_cfg (dict): Config of norm layers. Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Activation after both convs; None for a linear module.
            Defaults to ``dict(type='ReLU')``.
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 ratio=2,
                 kernel_size=1,
                 dw_size=3,
                 dilation=1,
                 dfc_cfg=None,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU')):
        super().__init__()
        self.out_channels = out_channels
        init_channels = math.ceil(out_channels / ratio)
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.primary_conv = conv_norm_act(in_channels, init_channels, kernel_size, **cfg)
        self.cheap_operation = conv_norm_act(init_channels, init_channels * (ratio - 1), dw_size,
                                             dilation=dilation, groups=init_channels, **cfg)
        self.short_conv = None
        if dfc_cfg is not None:
            self.short_conv = DFCAttention(in_channels, out_channels, dilation=dilation,
                                           conv_cfg=conv_cfg, norm_cfg=norm_cfg, **dfc_cfg)

    def forward(self, x):
        x1 = self.primary_conv(x)  # intrinsic features (Eq. 1)
        y = torch.cat([x1, self.cheap_operation(x1)], dim=1)  # Eq. 2
        if y.shape[1] > self.out_channels:  # ratio does not divide out_channels
            y = y[:, :self.out_channels]
        if self.short_conv is None:
            return y
        return y * self.short_conv(x, y.shape[-2:])  # Eq. 6: Sigmoid(A) * V(X)
