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
    for conv, bn in [(attn.proj.conv, attn.proj.bn), (attn.fc_h.conv, attn.fc_h.bn),
                     (attn.fc_v.conv, attn.fc_v.bn)]:
        y = bn(conv(y))
    expected = torch.nn.functional.interpolate(torch.sigmoid(y), size=(11, 13), mode='nearest')
    torch.testing.assert_close(attn(x), expected)
    assert attn.fc_h.conv.kernel_size == (1, 5) and attn.fc_v.conv.kernel_size == (5, 1)
    assert attn.fc_h.conv.groups == attn.fc_v.conv.groups == 6
    assert attn.proj.conv.kernel_size == (1, 1) and attn.proj.conv.bias is None


@pytest.mark.parametrize('gate', ['sigmoid', 'hard_sigmoid', 'clip'])
@pytest.mark.parametrize('gate_position', ['before', 'after'])
@pytest.mark.parametrize('down_mode', ['avg', 'max', 'bilinear'])
@pytest.mark.parametrize('up_mode', ['nearest', 'bilinear', 'bicubic'])
def test_switches(gate, gate_position, down_mode, up_mode):
    attn = DFCAttention(4, 4, kernel_size=(7, 3), gate=gate, gate_position=gate_position,
                        down_mode=down_mode, up_mode=up_mode).eval()
    out = attn(torch.randn(1, 4, 9, 10))
    assert out.shape == (1, 4, 9, 10)
    assert attn.fc_h.conv.kernel_size == (1, 7) and attn.fc_v.conv.kernel_size == (3, 1)
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
    assert attn.fc_h.conv.dilation == (4, 4) and attn.fc_h.conv.padding == (0, 8)
    assert attn.fc_v.conv.padding == (8, 0)
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


def test_official_layer_names_load():
    """Official/timm checkpoints name the branch's layers short_conv.0-5 (an nn.Sequential)."""
    attn = randomize_bn(DFCAttention(4, 6))
    names = ['proj.conv', 'proj.bn', 'fc_h.conv', 'fc_h.bn', 'fc_v.conv', 'fc_v.bn']
    official = {}
    for key, value in attn.state_dict().items():
        layer = next(n for n in names if key.startswith(n + '.'))
        official[f'{names.index(layer)}.{key[len(layer) + 1:]}'] = value.clone()
    other = DFCAttention(4, 6)
    other.load_state_dict(official, strict=True)
    for key, value in attn.state_dict().items():
        torch.testing.assert_close(other.state_dict()[key], value)
