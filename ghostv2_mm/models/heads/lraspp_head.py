"""mmseg's LRASPP head that names the smallest input it takes: its fixed ``AvgPool2d(49,
stride=(16, 20))`` (sized for MobileNetV3 on 512x1024 crops) otherwise fails on a smaller map
inside PyTorch ("Output size is too small"), naming neither the head nor the input size.
"""
from mmseg.models.decode_heads import LRASPPHead

from ...errors import ConfigError
from ...registry import register_model


@register_model
class SizeCheckedLRASPPHead(LRASPPHead):
    """``LRASPPHead`` that refuses a last input smaller than its image pool with a
    :class:`ConfigError` naming the smallest image size.

    Args:
        feature_stride (int): Stride of the last input (for the message). Defaults to 8.
        **kwargs: Arguments of mmseg's ``LRASPPHead``.
    """

    def __init__(self, feature_stride=8, **kwargs):
        if isinstance(feature_stride, bool) or not isinstance(feature_stride, int) \
                or feature_stride < 1:
            raise ConfigError(f'feature_stride must be a positive int, but received '
                              f'{feature_stride!r}')
        super().__init__(**kwargs)
        self.feature_stride = feature_stride
        self.pool_size = self.image_pool[0].kernel_size

    @property
    def min_input_size(self):
        """The smallest image side whose last feature map (ceil(size / stride)) covers the pool."""
        return (self.pool_size - 1) * self.feature_stride + 1

    def forward(self, inputs):
        h, w = inputs[self.in_index[-1]].shape[-2:]
        if min(h, w) < self.pool_size:
            s = self.feature_stride
            raise ConfigError(
                f'LRASPP needs images of at least {self.min_input_size} px on each side (its image '
                f'pool is AvgPool2d({self.pool_size}) on the stride-{s} feature), but '
                f'received a {h}x{w} feature map (an image of about {h * s}x{w * s} px)')
        return super().forward(inputs)
