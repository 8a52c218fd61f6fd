"""Export profiles: what each runtime gets of the inference structure.

A deployment is exported for one (backend, precision, static or dynamic input). Its profile,
resolved once by :func:`resolve`, lists the module transforms applied to the inference structure
before it is traced (:mod:`.transforms`) and the graph transforms applied to the ONNX file
before it is quantised. :data:`TRANSFORMS` is the one table of which (backend, precision) gets
which transform; ``tools/deployment/deploy.py``, ``export_onnx.py``, the benchmark and the
quantisation read it and nothing else. A new runtime is a new row.

Why each row (docs/performance.md has the measurements):

- ONNX Runtime fp32: channels padded to its 16-channel blocks and, in static files, the gates in
  their blocked-layout forms: the whole network then runs in ONNX Runtime's blocked layout.
- ONNX Runtime int8: padded, the DFC pooling as a depthwise conv (its int8 pooling is slow), the
  plain gates (its int8 kernels run NHWC, where up-sampled SE gates only add work), and every
  conv given its own parameters before quantisation (:func:`.quantize.groups.unshare_parameters`).
- OpenVINO, any precision: the plain structure; OpenVINO runs these networks channels-last,
  where padding only adds work.
- PyTorch: weights channels-last, the layout oneDNN's CPU convs work in.
"""
from collections import namedtuple

# (backend, precision) -> the transforms of its files, in the order they are applied.
TRANSFORMS = {
    ('onnxruntime', 'fp32'): ('pad_channels', 'blocked_gates'),
    ('onnxruntime', 'int8'): ('pad_channels', 'conv_pooling', 'unshare_parameters'),
    ('openvino', 'fp32'): (),
    ('openvino', 'bf16'): (),
    ('openvino', 'int8'): (),
    ('pytorch', 'fp32'): ('channels_last', ),
}
# Module transforms (functions of .transforms) and their arguments; ONNX Runtime's channel block
# is 16 channels with AVX-512.
MODULE_TRANSFORMS = {
    'pad_channels': dict(multiple=16),
    'blocked_gates': {},
    'conv_pooling': {},
    'channels_last': {},
}
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
        """``model``'s inference structure transformed for this profile (a model without a
        GhostNetV2 passes through unchanged but for ``channels_last``)."""
        from . import transforms
        for name in self.module_transforms:
            model = getattr(transforms, name)(model, **MODULE_TRANSFORMS[name])
        return model

    def apply_graph(self, onnx_model):
        """Apply the graph transforms to ``onnx_model`` (an ``onnx.ModelProto``) in place;
        returns whether it changed."""
        from .quantize import groups
        changed = False
        for name in self.graph_transforms:
            changed |= bool(getattr(groups, name)(onnx_model))
        return changed


def resolve(backend, precision='fp32', static=True):
    """The profile of (``backend``, ``precision``) for a static or dynamic input."""
    if (backend, precision) not in TRANSFORMS:
        raise ValueError(f'(backend, precision) must be one of {sorted(TRANSFORMS)}, but '
                         f'received {(backend, precision)!r}')
    names = tuple(t for t in TRANSFORMS[backend, precision] if static or t not in STATIC_ONLY)
    return Profile(backend, precision, bool(static), names)
