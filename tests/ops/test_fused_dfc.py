import copy

import pytest
import torch

import ghostv2_mm.models.layers.dfc_attention as dfc_module
from ghostv2_mm import DFCAttention, GhostNetV2
from ghostv2_mm.ops import fused_dfc, fused_dfc_available
from tests.utils import randomize_bn

CL = torch.channels_last


def cl(t):
    return t.contiguous(memory_format=CL)


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts the calls DFCAttention makes to the compiled operator."""
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return fused_dfc(*args, **kwargs)

    monkeypatch.setattr(dfc_module, 'fused_dfc', counting)
    return calls


def deploy_pair(**kwargs):
    """A DFC attention with random BN statistics and its channels-last deploy copy."""
    attn = randomize_bn(DFCAttention(6, 10, **kwargs))
    return attn, copy.deepcopy(attn).switch_to_deploy().to(memory_format=CL)


def test_compiled_operator_is_built():
    # tools/setup_env.sh builds it (setup.py, no build isolation); a missing build is a failure.
    assert fused_dfc_available(), 'ghostv2_mm._ext is missing: rerun tools/setup_env.sh'


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(kernel_size=(7, 3), dilation=2),
    dict(gate='hard_sigmoid', down_mode='max'),
    dict(gate='clip', gate_position='after', kernel_size=3),
])
@pytest.mark.parametrize('inplace', [False, True])
def test_fused_equals_the_module(kwargs, inplace, fused_calls):
    """One compiled call gives the BN'd PyTorch computation: odd sides (floor pooling, nearest
    up-sampling by a non-integer factor), padding wider than the map, sides of 1, batch 2."""
    attn, deploy = deploy_pair(**kwargs)
    sizes = [(7, 7), (16, 20), (11, 13), (70, 71), (1, 5), (2, 3)]
    for size in sizes:
        x, feats = torch.randn(2, 6, *size), torch.randn(2, 10, *size)
        with torch.no_grad():
            expected = attn.modulate(feats, x)
            out = deploy.modulate(cl(feats), cl(x), inplace=inplace)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
        assert out.is_contiguous(memory_format=CL)
    assert len(fused_calls) == len(sizes)


@pytest.mark.parametrize('feats_size', [(8, 10), (5, 7), (16, 20)])
def test_fused_resizes_the_gate_to_the_features(feats_size, fused_calls):
    """As in DFCGate around a strided layer: the features' size differs from the input's."""
    attn, deploy = deploy_pair()
    x, feats = torch.randn(1, 6, 16, 20), torch.randn(1, 10, *feats_size)
    with torch.no_grad():
        torch.testing.assert_close(deploy.modulate(cl(feats), cl(x)), attn.modulate(feats, x),
                                   rtol=0, atol=1e-5)
    assert len(fused_calls) == 1


def test_inplace_writes_into_the_features():
    _, deploy = deploy_pair()
    x, feats = cl(torch.randn(1, 6, 10, 12)), cl(torch.randn(1, 10, 10, 12))
    with torch.no_grad():
        expected = deploy.modulate(feats, x)
        out = deploy.modulate(feats, x, inplace=True)
    assert out.data_ptr() == feats.data_ptr()
    torch.testing.assert_close(feats, expected, rtol=0, atol=0)


@pytest.mark.parametrize('case', ['nchw', 'grad', 'double', 'not_fused', 'bilinear_up'])
def test_other_inputs_take_pytorch_ops(case, fused_calls):
    """Where the operator does not apply, the PyTorch path runs and gives the same result."""
    kwargs = dict(up_mode='bilinear') if case == 'bilinear_up' else {}
    attn = randomize_bn(DFCAttention(6, 10, **kwargs))
    deploy = copy.deepcopy(attn).switch_to_deploy(fused=case != 'not_fused')
    x, feats = torch.randn(1, 6, 12, 14), torch.randn(1, 10, 12, 14)
    if case != 'nchw':
        deploy.to(memory_format=CL)
        x, feats = cl(x), cl(feats)
    if case == 'double':
        attn, deploy, x, feats = attn.double(), deploy.double(), x.double(), feats.double()
    if case == 'grad':
        x.requires_grad_()
        out = deploy.modulate(feats, x)
        out.sum().backward()  # differentiable: PyTorch ops
        assert x.grad is not None
    else:
        with torch.no_grad():
            out = deploy.modulate(feats, x)
    torch.testing.assert_close(out.detach(), attn.modulate(feats, x).detach(), rtol=0, atol=1e-5)
    assert fused_calls == []


def test_same_result_on_one_and_two_threads():
    _, deploy = deploy_pair()
    x, feats = cl(torch.randn(2, 6, 56, 60)), cl(torch.randn(2, 10, 56, 60))
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            with torch.no_grad():
                outs.append(deploy.modulate(feats, x))
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-6)


def test_operator_rejects_bad_input():
    _, deploy = deploy_pair()
    x, feats = torch.randn(1, 6, 8, 8), torch.randn(1, 10, 8, 8)
    weights = (deploy.fused_conv, deploy[0].bias, deploy.fused_hfc, deploy[2].bias,
               deploy.fused_vfc, deploy[4].bias)
    with pytest.raises(RuntimeError, match='channels-last'):
        fused_dfc(x, feats, *weights)
    with pytest.raises(RuntimeError, match='conv_weight must be'):
        fused_dfc(cl(x), cl(feats), deploy.fused_conv.t().contiguous(), *weights[1:])
    with pytest.raises(RuntimeError, match='float32'):
        fused_dfc(cl(x.double()), cl(feats.double()), *weights)


@pytest.mark.parametrize('kwargs', [dict(), dict(widen_factor=1.3, output_stride=8)])
def test_deploy_network_runs_every_dfc_branch_fused(kwargs, fused_calls):
    model = randomize_bn(GhostNetV2(out_indices=(9, ), **kwargs))  # the last stage: every block
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        expected = model(x)
        model.switch_to_deploy()
        out = model(x)
    branches = sum(isinstance(m, DFCAttention) for m in model.modules())
    assert branches > 0 and len(fused_calls) == branches
    for a, b in zip(out, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


@pytest.mark.filterwarnings('ignore::torch.jit.TracerWarning')
def test_onnx_tracing_records_pytorch_ops(fused_calls):
    """Tracing (ONNX export, TorchScript) sees the PyTorch ops, not the opaque call."""
    model = randomize_bn(GhostNetV2(out_indices=(9, ))).switch_to_deploy()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        traced = torch.jit.trace(model, x, check_trace=False)
        torch.testing.assert_close(traced(torch.randn(1, 3, 96, 64))[0].shape[-2:],
                                   torch.Size([3, 2]))
    assert fused_calls == []


def test_fused_weights_follow_module_conversions(fused_calls):
    """The operator's arguments are gathered once per module; converting the module (here a
    round trip through float16, which rounds the weights) must not leave stale tensors."""
    _, deploy = deploy_pair()
    x, feats = cl(torch.randn(1, 6, 10, 12)), cl(torch.randn(1, 10, 10, 12))
    with torch.no_grad():
        before = deploy.modulate(feats, x)
        deploy.half().float()
        reference = copy.deepcopy(deploy)
        # PyTorch ops with the two FC convs, on the rounded weights.
        reference.fused_conv = reference.merged_fc = None
        reference._fused_args = None
        after = deploy.modulate(feats, x)
        expected = reference.modulate(feats, x)
    assert len(fused_calls) == 2
    assert (after - before).abs().max() > 1e-4  # the rounding is visible
    torch.testing.assert_close(after, expected, rtol=0, atol=1e-5)
