"""Channel padding of the inference structure (GhostNetV2's ``pad_channels``): exact, every Ghost
module's halves a whole number of blocks, outputs with their real channels."""
import pytest
import torch

from ghostv2_mm import GhostNetV2
from ghostv2_mm.models.deploy import pad_channels
from tests.utils import randomize_bn

ALL = tuple(range(10))


def ghost_modules(model):
    return [m for m in model.modules() if type(m).__name__ == 'GhostModule']


@pytest.mark.parametrize('kwargs', [dict(), dict(widen_factor=1.3, output_stride=8),
                                    dict(dfc_layers=(), widen_factor=1.1),
                                    dict(widen_factor=1.6, dfc_position='both',
                                         dfc_cfg=dict(gate_position='after', up_mode='bilinear'))])
def test_padded_structure_keeps_outputs(kwargs):
    model = randomize_bn(GhostNetV2(out_indices=ALL, pad_channels=16, **kwargs))
    x = torch.randn(2, 3, 97, 131)
    with torch.no_grad():
        ref = model(x)
        model.switch_to_deploy()
        out = model(x)
    for a, b in zip(ref, out):
        assert a.shape == b.shape
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
    for module in ghost_modules(model):
        init = module.primary_conv[0].out_channels
        assert module.cheap_operation[0].out_channels == init and init % 16 == 0


def test_padded_channels_hold_zeros():
    model = randomize_bn(GhostNetV2(out_indices=(6, ))).switch_to_deploy(channels_last=False)
    selects = pad_channels(model, 16)
    features = {}
    block = model.blocks[6][0]
    block.ghost1.register_forward_hook(lambda m, i, o: features.update(mid=o))
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))[0]
    # blocks.6.0 expands 80 -> 200 channels: 100 intrinsic, padded to 112 per half.
    assert features['mid'].shape[1] == 224 and out.shape[1] == 128
    real = torch.cat([torch.arange(100), 112 + torch.arange(100)])
    pad = torch.ones(224, dtype=torch.bool)
    pad[real] = False
    assert features['mid'][:, pad].abs().max() == 0
    assert features['mid'][:, real].abs().max() > 0
    # The stage output (112 channels: 56 per half, padded to 64) and its real channels.
    assert torch.equal(selects[6].index, torch.cat([torch.arange(56), 64 + torch.arange(56)]))
    assert out[:, 56:64].abs().max() == 0 and out[:, 120:].abs().max() == 0


def test_deploy_argument_builds_the_padded_structure(tmp_path):
    trained = randomize_bn(GhostNetV2(output_stride=16, pad_channels=16))
    converted = GhostNetV2(output_stride=16, pad_channels=16)
    converted.load_state_dict(trained.state_dict())
    converted.switch_to_deploy()
    built = GhostNetV2(output_stride=16, pad_channels=16, deploy=True)
    assert [type(m) for m in built.modules()] == [type(m) for m in converted.modules()]
    built.load_state_dict(converted.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        for a, b in zip(built(x), trained.eval()(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    # The training structure ignores pad_channels: a plain checkpoint loads.
    assert GhostNetV2(output_stride=16, pad_channels=16).load_state_dict(
        randomize_bn(GhostNetV2(output_stride=16)).state_dict())


@pytest.mark.parametrize('value', [0, 1, 2.5, True, '16'])
def test_invalid_pad_channels(value):
    with pytest.raises(ValueError, match='pad_channels must be None or an int >= 2'):
        GhostNetV2(pad_channels=value)
