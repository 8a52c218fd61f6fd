import torch.nn as nn
from mmcv.cnn import fuse_conv_bn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..layers.dfc_attention import DFCAttention, DFCForward


def fold(layer):
    """The conv of an mmcv ``ConvModule`` (conv-BN, no activation) with the BN folded in; a conv
    (folded already) as it is."""
    if isinstance(layer, nn.Conv2d):
        return layer
    conv, norm = layer.conv, layer.norm
    if not isinstance(norm, _BatchNorm):
        raise ValueError(f'deploy mode folds BN into the convs; {type(norm).__name__} (norm_cfg) '
                         'cannot be folded')
    return fuse_conv_bn_eval(conv.eval(), norm.eval())


class DeployDFCAttention(DFCForward):
    """:class:`DFCAttention` for inference: the same computation, each conv-BN (``proj``,
    ``fc_h``, ``fc_v``) one conv with a bias.

    Args:
        attn (DFCAttention | DeployDFCAttention): The trained module (or an inference form,
            whose layers are shared); its gate, gate position and sampling modes carry over.
    """

    def __init__(self, attn):
        super().__init__()
        for name in ('gate', 'gate_position', 'down_mode', 'up_mode'):
            setattr(self, name, getattr(attn, name))
        self.proj, self.fc_h, self.fc_v = (fold(m) for m in (attn.proj, attn.fc_h, attn.fc_v))


def replace_modules(model, swaps):
    """``model`` with each module of exact type T replaced, in place, by ``swaps[T](module)``."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if type(child) in swaps:
                setattr(module, name, swaps[type(child)](child))
    return model


def reparameterize(model):
    """Convert ``model`` in place into its inference structure, exact in eval mode: every
    :class:`DFCAttention` becomes a :class:`DeployDFCAttention`, then every BN after a conv is
    folded into it (mmcv's ``fuse_conv_bn``). Returns ``model``, in eval mode."""
    model.eval()
    return fuse_conv_bn(replace_modules(model, {DFCAttention: DeployDFCAttention}))
