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
    """:class:`DFCAttention` for inference: the same computation, each conv-BN (``proj``,
    ``fc_h``, ``fc_v``) one conv with a bias.

    Args:
        attn (DFCAttention): The trained module; its gate, gate position and sampling modes
            carry over.
    """

    def __init__(self, attn):
        super().__init__()
        for name in ('gate', 'gate_position', 'down_mode', 'up_mode'):
            setattr(self, name, getattr(attn, name))
        self.proj, self.fc_h, self.fc_v = (fold(m) for m in (attn.proj, attn.fc_h, attn.fc_v))

    def down(self, x):
        return downsample(x, self.down_mode)

    def attention(self, x):
        """The attention A of ``x`` at half resolution (Eq. 4-5), before the scaling function."""
        return self.fc_v(self.fc_h(self.proj(self.down(x))))

    def forward(self, x, size=None):
        a = self.attention(x)
        size = x.shape[-2:] if size is None else size
        return attention_gate(a, size, self.gate, self.gate_position, self.up_mode)


def reparameterize(model):
    """Convert ``model`` in place into its inference structure, exact in eval mode: every
    :class:`DFCAttention` becomes a :class:`DeployDFCAttention`, then every BN after a conv is
    folded into it (mmcv's ``fuse_conv_bn``). Returns ``model``, in eval mode."""
    model.eval()
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, DFCAttention):
                setattr(module, name, DeployDFCAttention(child))
    return fuse_conv_bn(model)
