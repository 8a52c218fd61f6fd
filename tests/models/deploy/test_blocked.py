"""Blocked-layout gates of the padded inference structure: the whole-factor nearest resize equals
``F.interpolate`` at every size, and the structure computes what the training structure
computes, with and without fixed sizes and with the DFC pooling as a conv."""
import pytest
import torch
import torch.nn.functional as F

from ghostv2_mm import GhostNetV2
from ghostv2_mm.models.deploy import (BlockedDFCAttention, BlockedSqueezeExcite, blocked_gates,
                                      conv_pooling, nearest_resize)
from ghostv2_mm.models.deploy.blocked import (MAX_UPSAMPLED_GATE, blocked_gates_enabled,
                                              conv_pooling_enabled)
from tests.utils import randomize_bn


def test_nearest_resize_equals_interpolate():
    routes = set()
    for h in range(1, 8):
        for w in (h, h + 2):
            x = torch.rand(2, 3, h, w)
            for height in range(h, 3 * h + 3):
                for width in (w, 2 * w, 2 * w + 1, 3 * w - 1):
                    out = nearest_resize(x, (height, width))
                    assert torch.equal(out, F.interpolate(x, size=(height, width),
                                                          mode='nearest'))
                    if height % h or width % w:
                        routes.add('upsampled' if h * w <= MAX_UPSAMPLED_GATE else 'padded'
                                   if (height, width) == (2 * h + 1, 2 * w + 1) else 'plain')
    assert routes == {'upsampled', 'padded', 'plain'}


@pytest.mark.parametrize('switch,enabled', [(blocked_gates, blocked_gates_enabled),
                                            (conv_pooling, conv_pooling_enabled)])
def test_switches_are_scoped(switch, enabled):
    assert not enabled()
    with switch():
        assert enabled()
        with switch(False):
            assert not enabled()
        assert enabled()
    assert not enabled()
    with pytest.raises(RuntimeError), switch():
        raise RuntimeError
    assert not enabled()


@pytest.mark.parametrize('kwargs', [dict(), dict(output_stride=8),
                                    dict(dfc_cfg=dict(gate='hard_sigmoid',
                                                      gate_position='after'))])
def test_blocked_structure_is_exact(kwargs):
    # 7x7 and 3x5 maps at stride 32: their gates are resized by non-integer factors.
    model = randomize_bn(GhostNetV2(out_indices=(2, 4, 6, 9), pad_channels=16, **kwargs))
    plain = randomize_bn(GhostNetV2(out_indices=(2, 4, 6, 9), **kwargs))
    plain.load_state_dict(model.state_dict())
    model.switch_to_deploy()
    assert any(isinstance(m, BlockedSqueezeExcite) for m in model.modules())
    assert sum(isinstance(m, BlockedDFCAttention) for m in model.modules()) == 14
    for size in ((224, 224), (96, 160)):
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            expected = plain(x)
            with blocked_gates():
                fixed = model(x)
            dynamic = model(x)
            with conv_pooling():
                pooled_by_conv = model(x)
        for e, a, b, c in zip(expected, fixed, dynamic, pooled_by_conv):
            torch.testing.assert_close(a, e, rtol=0, atol=1e-5)
            assert torch.equal(a, b)
            torch.testing.assert_close(c, e, rtol=0, atol=1e-5)


def test_unpadded_structure_keeps_its_gates():
    model = GhostNetV2().switch_to_deploy()
    assert not any(isinstance(m, (BlockedSqueezeExcite, BlockedDFCAttention))
                   for m in model.modules())


def test_conv_pooling_equals_average_pooling():
    model = randomize_bn(GhostNetV2(pad_channels=16)).switch_to_deploy()
    attn = next(m for m in model.modules() if isinstance(m, BlockedDFCAttention))
    # A constant of the structure, not a weight: checkpoints do not change.
    assert 'pool_weight' in dict(attn.named_buffers()) and \
        not any(k.endswith('pool_weight') for k in model.state_dict())
    channels = attn.proj.in_channels
    calls = []
    handle = attn.proj.register_forward_pre_hook(lambda m, args: calls.append(args[0]))
    # Even and odd sides, and a 1-pixel side (the pooling narrows to 2x1, the conv steps aside).
    for size in ((8, 8), (7, 9), (1, 6)):
        x = torch.randn(2, channels, *size)
        with torch.no_grad():
            expected = attn(x)
            with conv_pooling():
                actual = attn(x)
        torch.testing.assert_close(actual, expected, rtol=0, atol=1e-6)
        kernel = tuple(2 if side >= 2 else 1 for side in size)
        torch.testing.assert_close(calls[-1], F.avg_pool2d(x, kernel, kernel), rtol=0, atol=1e-6)
    handle.remove()
    # The other down-sampling modes are not an average.
    attn.down_mode = 'max'
    x = torch.randn(1, channels, 8, 8)
    with torch.no_grad(), conv_pooling():
        torch.testing.assert_close(attn.attention(x), attn.fc_v(attn.fc_h(attn.proj(
            F.max_pool2d(x, 2)))), rtol=0, atol=0)
