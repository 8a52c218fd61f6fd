"""The inference structure of GhostNetV2: BN folded into the convs, each DFC attention a module
of plain convs (:class:`DeployDFCAttention`). Built by ``GhostNetV2(deploy=True)`` or converted
from a trained model by ``switch_to_deploy()`` / :func:`reparameterize`; with
``pad_channels``, channels padded to the runtime's blocks (:func:`pad_channels`)."""
from .channel_pad import ChannelSelect, pad_channels
from .reparam import DeployDFCAttention, reparameterize

__all__ = ['ChannelSelect', 'DeployDFCAttention', 'pad_channels', 'reparameterize']
