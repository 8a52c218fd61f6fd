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


def export_onnx(module, path, part, shape=(224, 224), opset=17, dynamic=True):
    """Export ``module`` (see :func:`export_part`, in its export profile) to ``path`` and check
    it with ``onnx.checker``; returns the names of the outputs.

    ``dynamic=False`` fixes batch 1 and ``shape``, so the sizes the DFC gates are resized to are
    constants. Dynamic files take down to 2 pixels per side at the deepest DFC layer: the tracer
    fixes the pooling kernel at 2x2, which the eager model narrows for 1-pixel sides.
    """
    import onnx
    module.eval()
    x = torch.randn(1, 3, *shape)
    with torch.no_grad():
        outputs = module(x)
    num = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    names = ['logits'] if part == 'classifier' else [f'feat{i}' for i in range(num)]
    axes = {name: {0: 'batch'} if part == 'classifier' else
            {0: 'batch', 2: f'{name}_height', 3: f'{name}_width'} for name in names}
    axes['input'] = {0: 'batch', 2: 'height', 3: 'width'}
    with warnings.catch_warnings():
        # Tracing fixes the size checks in Python (channel slicing, pooling kernel, resizing);
        # the traced branches are the general ones.
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(module, x, path, input_names=['input'], output_names=names,
                          dynamic_axes=axes if dynamic else None, opset_version=opset)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    return names


def randomize_for_check(model, seed=0):
    """``model`` in eval mode with outputs that depend on its input, so that a check of its
    export can fail: random BN statistics and affine parameters, and last linear weights of std
    0.5 (initialised with std 0.01, its logits hardly depend on the input)."""
    from torch.nn.modules.batchnorm import _BatchNorm
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5, generator=generator)
                m.running_var.uniform_(0.5, 1.5, generator=generator)
                m.weight.uniform_(0.5, 1.5, generator=generator)
                m.bias.uniform_(-0.5, 0.5, generator=generator)
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        if linears:
            linears[-1].weight.normal_(0, 0.5, generator=generator)
    return model.eval()


def compare_onnx(module, model, shapes):
    """Run ``module`` and the ONNX ``model`` (a :class:`~.runtime.RuntimeModel`) on two random
    inputs of each (N, H, W) in ``shapes``.

    Returns:
        list[tuple[tuple[int, int, int], float, float]]: (shape, the largest absolute difference
        over all outputs, the outputs' input-dependent scale: the largest difference between
        the PyTorch outputs of the two inputs, against which the difference must be small).
    """
    module.eval()
    results = []
    for n, h, w in shapes:
        diff, expected_pair = 0., []
        for _ in range(2):
            x = torch.randn(n, 3, h, w)
            with torch.no_grad():
                expected = module(x)
            expected = [e.numpy() for e in (expected if isinstance(expected, (tuple, list))
                                            else [expected])]
            actual = model.run(x.numpy())
            if [a.shape for a in actual] != [e.shape for e in expected]:
                raise RuntimeError(f'ONNX output shapes {[a.shape for a in actual]} differ from '
                                   f'PyTorch {[e.shape for e in expected]} at {(n, h, w)}')
            diff = max([diff] + [float(np.abs(a - e).max()) for a, e in zip(actual, expected)])
            expected_pair.append(expected)
        scale = max(float(np.abs(a - b).max()) for a, b in zip(*expected_pair))
        results.append(((n, h, w), diff, scale))
    return results
