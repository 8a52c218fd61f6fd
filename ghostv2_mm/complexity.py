"""Parameters and multiply-accumulates (MACs, the paper's "FLOPs") with mmengine's analysis.
Like the paper, only convolutions and fully connected layers count (mmengine's default also counts
norm layers, which fold into convs at inference, and pooling/resizing, which have no multiply-adds).
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
    """``dict(params=int, macs=int)`` of ``model`` (put in eval mode) for one (C, H, W) input;
    ``forward`` (e.g. ``lambda x: model.extract_feat(x)``) replaces a ``forward`` that is not a
    plain tensor-to-tensor call."""
    model.eval()
    target = model if forward is None else TensorForward(model, forward)
    analyzer = FlopAnalyzer(target, (torch.zeros(1, *input_shape),))
    analyzer.clear_op_handles().set_op_handle(**MAC_OPS)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with torch.no_grad():
        macs = analyzer.total()
    return dict(params=parameter_count(model)[''], macs=macs)
