"""The inference structure (ghostv2_mm.models.deploy): built directly by GhostNetV2(deploy=True)
or converted in place by switch_to_deploy(), the same modules either way, and the training
structure's outputs."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ghostv2_mm import DFCAttention, GhostNetV2
from ghostv2_mm.models.deploy import DeployDFCAttention, reparameterize
from tests.utils import randomize_bn

ALL = tuple(range(10))


@pytest.mark.parametrize('kwargs', [dict(), dict(widen_factor=1.3, output_stride=8),
                                    dict(dfc_layers=(), widen_factor=1.1),
                                    dict(dfc_position='both', dfc_kernel_sizes=(3, 7, 9),
                                         dfc_cfg=dict(gate='hard_sigmoid', down_mode='max',
                                                      up_mode='bilinear'))])
def test_switch_to_deploy_folds_every_bn_and_keeps_outputs(kwargs):
    model = randomize_bn(GhostNetV2(out_indices=ALL, **kwargs))
    x = torch.randn(2, 3, 97, 131)
    with torch.no_grad():
        ref = model(x)
        assert model.switch_to_deploy() is model
        out = model(x)
    assert not any(isinstance(m, (_BatchNorm, DFCAttention)) for m in model.modules())
    assert model.deploy
    for a, b in zip(ref, out):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
    with pytest.raises(RuntimeError, match='deploy mode'):
        model.train()


def test_deploy_argument_builds_the_converted_structure():
    trained = randomize_bn(GhostNetV2(output_stride=16))
    converted = GhostNetV2(output_stride=16)
    converted.load_state_dict(trained.state_dict())
    converted.switch_to_deploy()
    built = GhostNetV2(output_stride=16, deploy=True)
    assert built.deploy
    assert built.state_dict().keys() == converted.state_dict().keys()
    assert [type(m) for m in built.modules()] == [type(m) for m in converted.modules()]
    built.load_state_dict(converted.state_dict(), strict=True)
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        for a, b in zip(built(x), trained.eval()(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_deploy_dfc_attention_is_plain_convs():
    attn = randomize_bn(DFCAttention(6, 10, kernel_size=(7, 3), dilation=2,
                                     gate_position='after'))
    deploy = DeployDFCAttention(attn)
    assert [type(m) for m in deploy.children()] == [torch.nn.Conv2d] * 3
    assert deploy.fc_h.dilation == (2, 2) and deploy.fc_v.kernel_size == (3, 1)
    x = torch.randn(2, 6, 13, 18)
    with torch.no_grad():
        torch.testing.assert_close(deploy(x, (26, 36)), attn(x, (26, 36)), rtol=0, atol=1e-6)


def test_norms_that_cannot_fold_are_named():
    model = GhostNetV2(norm_cfg=dict(type='GN', num_groups=4))
    with pytest.raises(ValueError, match='GroupNorm'):
        reparameterize(model)


def test_deploy_refuses_pretrained_init_cfg(tmp_path):
    model = GhostNetV2(deploy=True, init_cfg=dict(type='Pretrained', checkpoint='x.pth'))
    with pytest.raises(ValueError, match='deploy checkpoints'):
        model.init_weights()
