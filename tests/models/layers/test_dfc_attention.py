import copy

import pytest
import torch

from ghostv2_mm import DFCAttention
from tests.utils import randomize_bn


@pytest.mark.parametrize('size', [(16, 16), (7, 7), (9, 14), (1, 1)])
def test_gate_matches_target_size_and_range(size):
    attn = DFCAttention(8, 12).eval()
    x = torch.randn(2, 8, *size)
    gate = attn(x, (size[0] * 2, size[1] * 2))
    assert gate.shape == (2, 12, size[0] * 2, size[1] * 2)
    assert gate.min() >= 0 and gate.max() <= 1
    assert attn(x).shape == (2, 12, *size)


def test_official_computation():
    """Pool 2x2 -> 1x1 conv-BN -> (1,5) dw conv-BN -> (5,1) dw conv-BN -> sigmoid -> nearest."""
    attn = randomize_bn(DFCAttention(4, 6))
    x = torch.randn(1, 4, 11, 13)
    y = torch.nn.functional.avg_pool2d(x, 2, 2)
    for layer in attn:
        y = layer(y)
    expected = torch.nn.functional.interpolate(torch.sigmoid(y), size=(11, 13), mode='nearest')
    torch.testing.assert_close(attn(x), expected)
    assert attn[2].kernel_size == (1, 5) and attn[4].kernel_size == (5, 1)
    assert attn[2].groups == attn[4].groups == 6


@pytest.mark.parametrize('gate', ['sigmoid', 'hard_sigmoid', 'clip'])
@pytest.mark.parametrize('gate_position', ['before', 'after'])
@pytest.mark.parametrize('down_mode', ['avg', 'max', 'bilinear'])
@pytest.mark.parametrize('up_mode', ['nearest', 'bilinear', 'bicubic'])
def test_switches(gate, gate_position, down_mode, up_mode):
    attn = DFCAttention(4, 4, kernel_size=(7, 3), gate=gate, gate_position=gate_position,
                        down_mode=down_mode, up_mode=up_mode).eval()
    out = attn(torch.randn(1, 4, 9, 10))
    assert out.shape == (1, 4, 9, 10)
    assert attn[2].kernel_size == (1, 7) and attn[4].kernel_size == (3, 1)
    if gate_position == 'before' and up_mode == 'bicubic':
        return  # bicubic overshoots the gate's range by design of the ablation
    assert out.min() >= 0 and out.max() <= 1


def test_switches_change_the_result():
    x = torch.randn(1, 4, 9, 10)
    ref = DFCAttention(4, 4).eval()
    for kwargs in [dict(gate='hard_sigmoid'), dict(down_mode='max'), dict(up_mode='bilinear')]:
        other = DFCAttention(4, 4, **kwargs).eval()
        other.load_state_dict(ref.state_dict())
        assert not torch.allclose(ref(x), other(x)), kwargs


def test_dilation_keeps_size():
    attn = DFCAttention(4, 4, kernel_size=5, dilation=4)
    assert attn[2].dilation == (4, 4) and attn[2].padding == (0, 8)
    assert attn(torch.randn(1, 4, 33, 17)).shape == (1, 4, 33, 17)


@pytest.mark.parametrize('kwargs, name', [
    (dict(gate='relu'), 'gate'),
    (dict(gate_position='middle'), 'gate_position'),
    (dict(down_mode='stride'), 'down_mode'),
    (dict(up_mode='area'), 'up_mode'),
    (dict(kernel_size=4), 'kernel_size'),
    (dict(kernel_size=(5, 0)), 'kernel_size'),
    (dict(dilation=0), 'dilation'),
])
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        DFCAttention(4, 4, **kwargs)


@pytest.mark.parametrize('size', [(16, 20), (7, 9), (8, 9), (1, 1)])
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('kwargs', [dict(), dict(gate='hard_sigmoid'),
                                    dict(gate_position='after'), dict(up_mode='bilinear')])
def test_modulate_equals_multiplying_by_the_map(size, channels_last, kwargs):
    """The broadcast fast path (even sizes, NCHW or channels-last) gives the products of the
    general path."""
    attn = randomize_bn(DFCAttention(6, 10, **kwargs))
    x = torch.randn(2, 6, *size)
    feats = torch.randn(2, 10, *size)
    if channels_last:
        x, feats = (t.contiguous(memory_format=torch.channels_last) for t in (x, feats))
    with torch.no_grad():
        expected = feats * attn(x, size)
        torch.testing.assert_close(attn.modulate(feats, x), expected, rtol=0, atol=0)
        assert not torch.equal(feats, expected)  # not modified
        out = attn.modulate(feats, x, inplace=True)
        assert out.data_ptr() == feats.data_ptr()
        torch.testing.assert_close(feats, expected, rtol=0, atol=0)


def test_modulate_gradients_match():
    attn = DFCAttention(4, 8)
    x = torch.randn(2, 4, 12, 16, requires_grad=True)
    feats = torch.randn(2, 8, 12, 16, requires_grad=True)
    grads = []
    for fn in (lambda: attn.modulate(feats, x), lambda: attn.modulate(feats * 1, x, inplace=True),
               lambda: feats * attn(x, (12, 16))):
        x.grad = feats.grad = None
        attn.zero_grad()
        fn().pow(2).sum().backward()
        grads.append([x.grad.clone(), feats.grad.clone(), attn[2].weight.grad.clone()])
    for other in grads[1:]:
        for a, b in zip(grads[0], other):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize('kwargs', [dict(), dict(kernel_size=(7, 3), dilation=2),
                                    dict(gate='hard_sigmoid', down_mode='max')])
@pytest.mark.parametrize('channels_last', [False, True])
def test_deploy_merges_the_fcs_exactly(kwargs, channels_last):
    """switch_to_deploy folds the BNs and runs the two FCs as one depthwise conv with a
    row-dependent bias on small maps (the merged path), two convs on large ones: same outputs."""
    attn = randomize_bn(DFCAttention(6, 10, **kwargs))
    deploy = copy.deepcopy(attn).switch_to_deploy()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in deploy.modules())
    kh, kv = deploy[2].kernel_size[1], deploy[4].kernel_size[0]
    assert deploy.merged_fc.shape == (10, 1, kv, kh)
    if channels_last:
        deploy.to(memory_format=torch.channels_last)
    # Down-sampled to 3x3 (the padding exceeds the map), 8x10, 5x6 and 35x35 (not merged).
    for size in [(7, 7), (16, 20), (11, 13), (70, 71)]:
        x = torch.randn(2, 6, *size)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            torch.testing.assert_close(deploy(x), attn(x), rtol=0, atol=1e-5)
            torch.testing.assert_close(deploy.logits(x), attn.logits(x), rtol=0, atol=1e-5)
    merged = sorted(key[0] for key in deploy._row_biases)
    assert merged == [3, 5, 8]  # the row-bias maps of the merged sizes, 35x35 took two convs


def test_deploy_kernel_follows_the_module():
    deploy = randomize_bn(DFCAttention(4, 6)).switch_to_deploy().double()
    assert deploy.merged_fc.dtype == torch.float64
    assert 'merged_fc' not in deploy.state_dict()
    out = deploy(torch.randn(1, 4, 8, 8, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (1, 6, 8, 8)


def test_deploy_keeps_norms_it_cannot_fold():
    """GroupNorm is not folded into the convs: deploy mode neither merges the FCs nor takes the
    fused operator (both read the conv weights alone), and the outputs stay the same."""
    attn = DFCAttention(4, 6, norm_cfg=dict(type='GN', num_groups=2)).eval()
    deploy = copy.deepcopy(attn).switch_to_deploy().to(memory_format=torch.channels_last)
    assert deploy.merged_fc is None and deploy.fused_conv is None
    x, feats = torch.randn(1, 4, 8, 10), torch.randn(1, 6, 8, 10)
    with torch.no_grad():
        expected = attn.modulate(feats, x)
        out = deploy.modulate(feats.contiguous(memory_format=torch.channels_last),
                              x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
