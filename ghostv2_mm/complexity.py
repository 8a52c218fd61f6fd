"""Parameters and multiply-accumulates (MACs) with mmengine's complexity analysis.

The paper (like most mobile-network papers) calls MACs "FLOPs" and counts only convolutions and
fully connected layers. mmengine's :class:`FlopAnalyzer` also counts norm layers, pooling and
resizing by default; those ops are ignored here so the figures compare with the paper's.
BN folds into the preceding conv at inference, and pooling/resizing have no multiply-adds.
"""
import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.analysis.jit_handles import (addmm_flop_jit, bmm_flop_jit, conv_flop_jit,
                                           einsum_flop_jit, linear_flop_jit, matmul_flop_jit)

from .tensor_forward import TensorForward

# mmengine's default handles for these ops, and no others. (Passing None to
# ``FlopAnalyzer.set_op_handle`` does not remove a default handle in mmengine 0.10.)
MAC_OPS = {
    'aten::_convolution': conv_flop_jit,
    'aten::addmm': addmm_flop_jit,
    'aten::linear': linear_flop_jit,
    'aten::matmul': matmul_flop_jit,
    'aten::mm': matmul_flop_jit,
    'aten::bmm': bmm_flop_jit,
    'aten::einsum': einsum_flop_jit,
}


def count_complexity(model, input_shape=(3, 224, 224), forward=None):
    """Count parameters and MACs of ``model`` for one input of ``input_shape``.

    Args:
        model (nn.Module): The model; it is put in eval mode.
        input_shape (tuple[int]): (C, H, W) of the single input image.
        forward (callable, optional): Wraps ``model`` when its ``forward`` is not a plain
            tensor-to-tensor call, e.g. ``lambda x: model.extract_feat(x)``. Defaults to None.

    Returns:
        dict: ``params`` (int) and ``macs`` (int).
    """
    model.eval()
    target = model if forward is None else TensorForward(model, forward)
    analyzer = FlopAnalyzer(target, (torch.zeros(1, *input_shape),))
    analyzer.clear_op_handles().set_op_handle(**MAC_OPS)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        macs = analyzer.total()
    return dict(params=parameter_count(model)[''], macs=macs)
