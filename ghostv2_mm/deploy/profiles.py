"""Export profiles: what each runtime gets of the inference structure. :data:`TRANSFORMS` is the
one table of which (backend, precision) gets which module transforms (:mod:`.transforms`, before
tracing) and graph transforms (of the ONNX file a quantiser reads); :func:`resolve` makes a
deployment's profile. docs/deployment.md and docs/performance.md have the reasons.
"""
from collections import namedtuple

# (backend, precision) -> the transforms of its files, in the order they are applied.
TRANSFORMS = {
    # The whole network in ONNX Runtime's blocked layout.
    ('onnxruntime', 'fp32'): ('pad_channels', 'blocked_gates'),
    # Its int8 kernels run NHWC, where up-sampled gates only add work, and its int8 pooling is
    # slow; every conv gets its own parameters before quantisation.
    ('onnxruntime', 'int8'): ('pad_channels', 'conv_pooling', 'unshare_parameters'),
    # OpenVINO and LiteRT (XNNPACK) run these networks channels-last, where padding only adds
    # work, and ncnn packs channels in blocks of its own: the unpadded file, the plain gates.
    **dict.fromkeys([('openvino', 'fp32'), ('openvino', 'bf16'), ('openvino', 'int8'),
                     ('ncnn', 'fp32'), ('ncnn', 'fp16'),
                     ('litert', 'fp32'), ('litert', 'fp16'), ('litert', 'int8')], ()),
    ('pytorch', 'fp32'): ('channels_last', ),
}
# Module transforms: functions of .transforms (pad_channels to 16: ONNX Runtime's AVX-512 block).
MODULE_TRANSFORMS = ('pad_channels', 'blocked_gates', 'conv_pooling', 'channels_last')
# Module transforms that fix sizes when traced: static-shape files only.
STATIC_ONLY = ('blocked_gates', )
# Graph transforms (functions of .quantize.groups) of the ONNX file a quantiser reads.
GRAPH_TRANSFORMS = ('unshare_parameters', )


class Profile(namedtuple('Profile', 'backend precision static transforms')):
    """The export profile of one deployment; :func:`resolve` makes it."""

    @property
    def module_transforms(self):
        return tuple(t for t in self.transforms if t in MODULE_TRANSFORMS)

    @property
    def graph_transforms(self):
        return tuple(t for t in self.transforms if t in GRAPH_TRANSFORMS)

    def apply(self, model):
        """``model``'s inference structure transformed for this profile."""
        from . import transforms
        for name in self.module_transforms:
            model = getattr(transforms, name)(model)
        return model

    def apply_graph(self, onnx_model):
        """Apply the graph transforms to ``onnx_model`` in place; returns whether it changed."""
        from .quantize import groups
        # A list, not a generator: any() would stop at the first change.
        return any([getattr(groups, name)(onnx_model) for name in self.graph_transforms])


def resolve(backend, precision='fp32', static=True):
    """The profile of (``backend``, ``precision``) for a static or dynamic input."""
    if (backend, precision) not in TRANSFORMS:
        raise ValueError(f'(backend, precision) must be one of {sorted(TRANSFORMS)}, but '
                         f'received {(backend, precision)!r}')
    names = tuple(t for t in TRANSFORMS[backend, precision] if static or t not in STATIC_ONLY)
    return Profile(backend, precision, bool(static), names)
