"""The inference structure of GhostNetV2: BN folded into the convs, each DFC attention a module
of plain convs (:class:`DeployDFCAttention`). Built by ``GhostNetV2(deploy=True)`` or converted
from a trained model by ``switch_to_deploy()`` / :func:`reparameterize`; with
``pad_channels``, the structure for blocked channel layouts: channels padded to the runtime's
blocks (:func:`pad_channels`) and the SE and DFC gates in forms that keep the layout
(:func:`to_blocked_gates`, in static-shape exports: :func:`blocked_gates`), and for the files
ONNX Runtime quantises the DFC pooling as a depthwise conv (:func:`conv_pooling`)."""
from .blocked import (BlockedDFCAttention, BlockedSqueezeExcite, blocked_gates, conv_pooling,
                      nearest_resize, to_blocked_gates)
from .channel_pad import ChannelSelect, pad_channels
from .reparam import DeployDFCAttention, reparameterize

__all__ = ['BlockedDFCAttention', 'BlockedSqueezeExcite', 'ChannelSelect', 'DeployDFCAttention',
           'blocked_gates', 'conv_pooling', 'nearest_resize', 'pad_channels', 'reparameterize',
           'to_blocked_gates']
