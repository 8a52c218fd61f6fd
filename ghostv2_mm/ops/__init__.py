"""Compiled CPU operators: ``ghostv2_mm._ext``, built from ``csrc/`` by ``setup.py`` when torch is
importable at build time (``tools/setup_env.sh`` installs that way). Without it the package works
unchanged and deploy mode runs the DFC attention as PyTorch ops.
"""
import torch

try:
    from .. import _ext
except ImportError as e:
    _ext = None
    _IMPORT_ERROR = str(e)

# Codes of the C++ side.
FUSED_POOLS = {'avg': 0, 'max': 1}
FUSED_GATES = {'sigmoid': 0, 'hard_sigmoid': 1, 'clip': 2}


def fused_dfc_available():
    """Whether the compiled fused DFC attention was built and loads."""
    return _ext is not None


def fused_dfc_supported(x, feats):
    """Whether :func:`fused_dfc` can take these tensors: CPU float32, channels-last contiguous,
    no gradient wanted (the operator has no backward), not traced (ONNX/TorchScript record
    PyTorch ops only)."""
    return (_ext is not None and not torch.jit.is_tracing() and not torch.jit.is_scripting()
            and x.dim() == 4 and feats.dim() == 4
            and x.device.type == 'cpu' and feats.device.type == 'cpu'
            and x.dtype == torch.float32 and feats.dtype == torch.float32
            and not (torch.is_grad_enabled() and (x.requires_grad or feats.requires_grad))
            and x.is_contiguous(memory_format=torch.channels_last)
            and feats.is_contiguous(memory_format=torch.channels_last))


def fused_dfc(x, feats, conv_weight, conv_bias, hfc_weight, hfc_bias, vfc_weight, vfc_bias,
              dilation=1, pool='avg', gate='sigmoid', inplace=False):
    """``feats`` times the DFC attention of ``x`` (2x2 pooling, 1x1 conv, horizontal and
    vertical depthwise FCs, scaling function, nearest up-sampling to ``feats``' size), in one
    call on channels-last float32 CPU tensors.

    Args:
        x (Tensor): Input of the attention, (N, Cin, H, W).
        feats (Tensor): Features to modulate, (N, C, H', W').
        conv_weight (Tensor): The 1x1 conv, BN folded, as a (Cin, C) matrix.
        conv_bias (Tensor): Its bias, (C,).
        hfc_weight (Tensor): The horizontal FC, BN folded, as (kh, C).
        hfc_bias (Tensor): Its bias, (C,).
        vfc_weight (Tensor): The vertical FC, BN folded, as (kv, C).
        vfc_bias (Tensor): Its bias, (C,).
        dilation (int): Dilation of both FCs. Defaults to 1.
        pool (str): ``'avg'`` or ``'max'``. Defaults to ``'avg'``.
        gate (str): ``'sigmoid'``, ``'hard_sigmoid'`` or ``'clip'``. Defaults to ``'sigmoid'``.
        inplace (bool): Write the result into ``feats``. Defaults to False.
    """
    if _ext is None:
        raise RuntimeError('ghostv2_mm was installed without its compiled operators '
                           f'({_IMPORT_ERROR}); reinstall it with torch importable at build '
                           'time: pip install --no-build-isolation -e .')
    return _ext.fused_dfc(x, feats, conv_weight, conv_bias, hfc_weight, hfc_bias, vfc_weight,
                          vfc_bias, dilation, FUSED_POOLS[pool], FUSED_GATES[gate], inplace)
