"""ONNX export of GhostNetV2 classifiers and backbones, and its check with onnxruntime."""
import warnings

import numpy as np
import torch

from ..tensor_forward import TensorForward

PARTS = ('classifier', 'backbone')


def export_part(model, part):
    """The module to export: ``'classifier'`` (image to logits, for an mmpretrain
    ``ImageClassifier``) or ``'backbone'`` (image to the tuple of multi-scale features)."""
    if part == 'classifier':
        if not hasattr(model, 'head'):
            raise ValueError(f'part="classifier" needs an mmpretrain classifier config, but the '
                             f'model is a {type(model).__name__}; use part="backbone"')
        return TensorForward(model, lambda x: model(x, mode='tensor'))
    if part == 'backbone':
        return model.backbone
    raise ValueError(f'part must be one of {PARTS}, but received {part!r}')


def export_onnx(module, path, part, shape=(224, 224), opset=17, dynamic=True, blocked=None,
                conv_pool=False):
    """Export ``module`` (see :func:`export_part`) to ``path`` and check it with
    ``onnx.checker``.

    With ``dynamic=False`` the graph is fixed to batch 1 and ``shape``: the sizes the DFC
    branches resize their gates to are then folded to constants when ONNX Runtime loads the
    file, where a dynamic graph computes them on every call (``Shape``, ``Gather``,
    ``Unsqueeze``, ``Concat`` and ``Slice`` nodes per branch). With ``dynamic=True`` (the
    default) batch, height and width are dynamic (the DFC branch's pooling and resizing follow
    the input size), so one backbone file serves any detection or segmentation input, and the
    classifier (global pooling) any image size, down to 2 pixels per side at the deepest DFC
    layer (64x64 images at output stride 32): the tracer fixes the pooling kernel at 2x2, which
    the eager model narrows for 1-pixel sides.

    Static exports take the blocked-layout gates of a padded structure
    (:func:`~ghostv2_mm.models.deploy.blocked_gates`) unless ``blocked=False`` (the file ONNX
    Runtime quantises). ``conv_pool=True`` exports a padded structure's DFC pooling as a depthwise
    conv (:func:`~ghostv2_mm.models.deploy.conv_pooling`; for that file too).

    Returns:
        list[str]: The names of the outputs.
    """
    import onnx

    from ..models.deploy import blocked_gates, conv_pooling
    module.eval()
    x = torch.randn(1, 3, *shape)
    with torch.no_grad():
        outputs = module(x)
    num = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    names = ['logits'] if part == 'classifier' else [f'feat{i}' for i in range(num)]
    axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
    for name in names:
        axes[name] = {0: 'batch'} if part == 'classifier' else \
            {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'}
    if not dynamic:
        axes = None
    blocked = not dynamic if blocked is None else blocked and not dynamic
    with warnings.catch_warnings(), blocked_gates(blocked), conv_pooling(conv_pool):
        # The size checks in Python (channel slicing, pooling kernel, resizing to the same size)
        # are fixed by tracing; the traced branches are the general ones, as documented above.
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(module, x, path, input_names=['input'], output_names=names,
                          dynamic_axes=axes, opset_version=opset)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return names


def onnx_session(path, threads=None):
    """An onnxruntime CPU session with ``threads`` intra-op threads (all cores when None) that
    do not spin while idle, so that they leave the cores to other work measured alongside."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def compare_onnx(module, session, shapes):
    """Run ``module`` and the onnxruntime ``session`` on random inputs of each (N, H, W) in
    ``shapes``.

    Returns:
        list[tuple[tuple[int, int, int], float]]: (shape, max abs difference over all outputs).
    """
    module.eval()
    results = []
    for n, h, w in shapes:
        x = torch.randn(n, 3, h, w)
        with torch.no_grad():
            expected = module(x)
        expected = expected if isinstance(expected, (tuple, list)) else [expected]
        actual = session.run(None, {'input': x.numpy()})
        if [tuple(a.shape) for a in actual] != [tuple(e.shape) for e in expected]:
            raise RuntimeError(f'onnxruntime output shapes {[a.shape for a in actual]} differ '
                               f'from PyTorch {[tuple(e.shape) for e in expected]} at {(n, h, w)}')
        diff = max(float(np.abs(a - e.numpy()).max()) for a, e in zip(actual, expected))
        results.append(((n, h, w), diff))
    return results
