import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule

from ...registry import register_model
from ...utils import check_choice, check_layer_cfg

# The scaling function that turns the attention A into a gate in (0, 1) (Eq. 6; Table 9).
GATES = {
    'sigmoid': torch.sigmoid,
    'hard_sigmoid': F.hardsigmoid,
    'clip': lambda x: x.clamp(0., 1.),
}
DOWN_MODES = ('avg', 'max', 'bilinear')
UP_MODES = ('nearest', 'bilinear', 'bicubic')
# Layer names of the official ``short_conv`` (an nn.Sequential) -> the names used here.
OFFICIAL_KEYS = {'0.': 'proj.conv.', '1.': 'proj.bn.', '2.': 'fc_h.conv.', '3.': 'fc_h.bn.',
                 '4.': 'fc_v.conv.', '5.': 'fc_v.bn.'}


def downsample(x, mode):
    """Halve both sides (Fig. 4b). A side of length 1 is kept rather than failing; the kernel is
    made of literal ints so that the ONNX exporter records constants, not traced sizes."""
    h, w = x.shape[-2:]
    kernel = tuple(2 if side >= 2 else 1 for side in (h, w))
    if mode in ('avg', 'max'):
        pool = F.avg_pool2d if mode == 'avg' else F.max_pool2d
        return pool(x, kernel_size=kernel, stride=kernel)
    return F.interpolate(x, size=(max(h // 2, 1), max(w // 2, 1)), mode='bilinear',
                         align_corners=False)


def upsample(x, size, mode):
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    align_corners = None if mode == 'nearest' else False
    return F.interpolate(x, size=size, mode=mode, align_corners=align_corners)


def rename_official_keys(state_dict, prefix, *args):
    """Load-state-dict pre-hook: official and timm checkpoints name the DFC branch's layers
    ``short_conv.0`` ... ``short_conv.5``."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix):]
        for old, new in OFFICIAL_KEYS.items():
            if rest.startswith(old):
                state_dict[prefix + new + rest[len(old):]] = state_dict.pop(key)
                break


class DFCForward(nn.Module):
    """What DFC attention computes from its settings and its layers ``proj``, ``fc_h`` and
    ``fc_v``: the conv-BNs of :class:`DFCAttention`, or the convs of its inference forms."""

    def down(self, x):
        return downsample(x, self.down_mode)

    def attention(self, x):
        """The attention A of ``x`` at half resolution, before the scaling function."""
        z = self.proj(self.down(x))
        return self.fc_v(self.fc_h(z))  # Eq. 4, then Eq. 5

    def forward(self, x, size=None):
        """The gate ``Sigmoid(A)`` of Eq. 6 from ``x`` at ``size`` (default: the size of ``x``),
        scaled before or after up-sampling (Table 9)."""
        a = self.attention(x)
        size = x.shape[-2:] if size is None else size
        if self.gate_position == 'before':
            return upsample(GATES[self.gate](a), size, self.up_mode)
        return GATES[self.gate](upsample(a, size, self.up_mode))


@register_model
class DFCAttention(DFCForward):
    """Decoupled fully connected (DFC) attention of GhostNetV2 (paper Eq. 4-5, Fig. 4b): X is
    down-sampled by 2 and projected to Z by a 1x1 conv-BN (``proj``); a depthwise ``(1, k)``
    conv-BN aggregates Z along the width (``fc_h``, Eq. 4) and a ``(k, 1)`` one along the height
    (``fc_v``, Eq. 5), giving A; the scaling function turns A into the gate of Eq. 6. Official
    ``short_conv.0``-``5`` keys load as they are (:func:`rename_official_keys`).

    Args:
        in_channels (int): Channels of X.
        out_channels (int): Channels of the attention map (of the features it multiplies).
        kernel_size (int | tuple[int, int]): Length of the FCs, or ``(horizontal, vertical)``.
            Defaults to 5 (the official code; Table 6).
        gate (str): ``'sigmoid'``, ``'hard_sigmoid'`` or ``'clip'`` (Table 9).
            Defaults to ``'sigmoid'``.
        gate_position (str): ``'before'`` or ``'after'`` up-sampling (Table 9).
            Defaults to ``'before'``.
        down_mode (str): ``'avg'``, ``'max'`` or ``'bilinear'`` (Table 10). Defaults to ``'avg'``.
        up_mode (str): ``'nearest'``, ``'bilinear'`` or ``'bicubic'`` (Table 10).
            Defaults to ``'nearest'``.
        dilation (int): Dilation of the two FCs, for atrous stages. Defaults to 1.
        conv_cfg (dict, optional): Config of the conv layers. Defaults to None.
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
        super().__init__()
        check_layer_cfg('conv_cfg', conv_cfg, 'conv')
        check_layer_cfg('norm_cfg', norm_cfg, 'norm', allow_none=False)
        check_choice('gate', gate, tuple(GATES))
        check_choice('gate_position', gate_position, ('before', 'after'))
        check_choice('down_mode', down_mode, DOWN_MODES)
        check_choice('up_mode', up_mode, UP_MODES)
        kh, kv = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        for k in (kh, kv):
            if not (isinstance(k, int) and k >= 1 and k % 2 == 1):
                raise ValueError('kernel_size must be a positive odd int or a pair of them, '
                                 f'but received {kernel_size!r}')
        if not (isinstance(dilation, int) and dilation >= 1):
            raise ValueError(f'dilation must be a positive int, but received {dilation!r}')
        self.gate = gate
        self.gate_position = gate_position
        self.down_mode = down_mode
        self.up_mode = up_mode

        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
        self.proj = ConvModule(in_channels, out_channels, 1, **cfg)
        self.fc_h = ConvModule(out_channels, out_channels, (1, kh),
                               padding=(0, dilation * (kh // 2)), dilation=dilation,
                               groups=out_channels, **cfg)
        self.fc_v = ConvModule(out_channels, out_channels, (kv, 1),
                               padding=(dilation * (kv // 2), 0), dilation=dilation,
                               groups=out_channels, **cfg)
        self._register_load_state_dict_pre_hook(rename_official_keys)


@register_model
class DFCGate(nn.Module):
    """Plug-in DFC attention: the output of ``module`` times the DFC attention map of its input
    (paper Table 4).

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
        out = self.module(x)
        return out * self.attn(x, out.shape[-2:])
