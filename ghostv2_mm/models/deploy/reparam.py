import torch.nn as nn
from mmcv.cnn import fuse_conv_bn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..layers.dfc_attention import DFCAttention, attention_gate, downsample


def fold(conv_module):
    """The conv of an mmcv ``ConvModule`` (conv-BN, no activation) with the BN folded in."""
    conv, norm = conv_module.conv, conv_module.norm
    if not isinstance(norm, _BatchNorm):
        raise ValueError(f'deploy mode folds BN into the convs; {type(norm).__name__} (norm_cfg) '
                         'cannot be folded')
    return fuse_conv_bn_eval(conv.eval(), norm.eval())


class DeployDFCAttention(nn.Module):
    """:class:`DFCAttention` for inference: the same computation, each conv-BN one conv with a
    bias (``proj``, ``fc_h``, ``fc_v``).

    Args:
        attn (DFCAttention): The trained module to convert; its settings (scaling function and
            its position, down- and up-sampling) carry over.
    """

    def __init__(self, attn):
        super().__init__()
        self.gate = attn.gate
        self.gate_position = attn.gate_position
        self.down_mode = attn.down_mode
        self.up_mode = attn.up_mode
        self.proj = fold(attn.proj)
        self.fc_h = fold(attn.fc_h)
        self.fc_v = fold(attn.fc_v)

    def down(self, x):
        """The branch's down-sampling of ``x`` to half resolution."""
        return downsample(x, self.down_mode)

    def attention(self, x):
        """The attention A of ``x`` at half resolution (Eq. 4-5), before the scaling function."""
        return self.fc_v(self.fc_h(self.proj(self.down(x))))

    def forward(self, x, size=None):
        a = self.attention(x)
        size = x.shape[-2:] if size is None else size
        return attention_gate(a, size, self.gate, self.gate_position, self.up_mode)


def reparameterize(model):
    """Convert ``model`` in place into its inference structure: every :class:`DFCAttention`
    becomes a :class:`DeployDFCAttention`, then every BN that follows a conv is folded into it
    (mmcv's ``fuse_conv_bn``: the BN's slot becomes an ``nn.Identity``). Exact in eval mode.

    Returns:
        nn.Module: ``model``, in eval mode.
    """
    model.eval()
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, DFCAttention):
                setattr(module, name, DeployDFCAttention(child))
    return fuse_conv_bn(model)
