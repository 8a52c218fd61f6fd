"""Blocked-layout gates of the padded inference structure: the whole-factor nearest resize equals
``F.interpolate`` at every size, and the structure computes what the training structure
computes, with and without fixed sizes."""
import pytest
import torch
import torch.nn.functional as F

from ghostv2_mm import GhostNetV2
from ghostv2_mm.models.deploy import (BlockedDFCAttention, BlockedSqueezeExcite, nearest_resize,
                                      blocked_gates)
from ghostv2_mm.models.deploy.blocked import MAX_UPSAMPLED_GATE, blocked_gates_enabled
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


def test_blocked_gates_is_a_scoped_switch():
    assert not blocked_gates_enabled()
    with blocked_gates():
        assert blocked_gates_enabled()
        with blocked_gates(False):
            assert not blocked_gates_enabled()
        assert blocked_gates_enabled()
    assert not blocked_gates_enabled()


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
        for e, a, b in zip(expected, fixed, dynamic):
            torch.testing.assert_close(a, e, rtol=0, atol=1e-5)
            assert torch.equal(a, b)


def test_unpadded_structure_keeps_its_gates():
    model = GhostNetV2().switch_to_deploy()
    assert not any(isinstance(m, (BlockedSqueezeExcite, BlockedDFCAttention))
                   for m in model.modules())
