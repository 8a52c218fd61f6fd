import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ghostv2_mm import GhostNetV2
from ghostv2_mm.models.layers import DFCAttention

# Output channels of blocks[0..9] and their strides (paper / official table).
CHANNELS = {
    1.0: [16, 24, 24, 40, 40, 80, 112, 160, 160, 960],
    1.3: [20, 32, 32, 52, 52, 104, 144, 208, 208, 1248],
    1.6: [24, 40, 40, 64, 64, 128, 180, 256, 256, 1536],
}
STRIDES = [2, 4, 4, 8, 8, 16, 16, 32, 32, 32]
ALL = tuple(range(10))


def down(size, stride):
    for _ in range(stride.bit_length() - 1):
        size = (size - 1) // 2 + 1  # every stride-2 conv has kernel k and padding k // 2
    return size


@pytest.mark.parametrize('widen_factor', [1.0, 1.3, 1.6])
@pytest.mark.parametrize('hw', [(224, 224), (321, 479)])
def test_output_shapes(widen_factor, hw):
    model = GhostNetV2(widen_factor, out_indices=ALL).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *hw))
    assert isinstance(outs, tuple) and len(outs) == 10
    assert model.out_channels == CHANNELS[widen_factor]
    assert model.out_strides == STRIDES
    for out, c, s in zip(outs, CHANNELS[widen_factor], STRIDES):
        assert out.shape == (1, c, down(hw[0], s), down(hw[1], s))


def test_default_taps_are_one_per_stride():
    model = GhostNetV2()
    assert model.out_indices == (2, 4, 6, 9)
    assert model.out_strides == [4, 8, 16, 32]
    outs = model(torch.randn(2, 3, 64, 96))
    assert [o.shape[1] for o in outs] == [24, 40, 112, 960]


@pytest.mark.parametrize('output_stride', [8, 16])
def test_dilated_mode_keeps_stride(output_stride):
    model = GhostNetV2(out_indices=ALL, output_stride=output_stride).eval()
    expected = [min(s, output_stride) for s in STRIDES]
    assert model.out_strides == expected
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 512, 512))
        odd = model(torch.randn(1, 3, 321, 479))
    for out, s in zip(outs, expected):
        assert out.shape[-2:] == (512 // s, 512 // s)
    assert odd[-1].shape[-2:] == (down(321, output_stride), down(479, output_stride))
    # Same parameters as the stride-32 network, so classification weights load.
    assert model.state_dict().keys() == GhostNetV2().state_dict().keys()
    d = 4 if output_stride == 8 else 2
    last = model.blocks[8][0]
    assert last.ghost1.cheap_operation[0].dilation == (d, d)
    assert last.ghost1.short_conv.fc_h.conv.dilation == (d, d)
    assert model.blocks[7][0].conv_dw.stride == (1, 1)


def test_dfc_placement_and_v1_switch():
    v2 = GhostNetV2()
    layers = [b for stage in v2.blocks[:9] for b in stage]
    assert [b.ghost1.short_conv is not None for b in layers] == [False, False] + [True] * 14
    assert all(b.ghost2.short_conv is None for b in layers)
    v1 = GhostNetV2(dfc_layers=())
    assert not any(isinstance(m, DFCAttention) for m in v1.modules())
    both = GhostNetV2(dfc_layers=(3, ), dfc_position='both')
    layers = [b for stage in both.blocks[:9] for b in stage]
    assert [i for i, b in enumerate(layers) if b.ghost1.short_conv is not None] == [3]
    assert [i for i, b in enumerate(layers) if b.ghost2.short_conv is not None] == [3]
    custom = GhostNetV2(dfc_cfg=dict(kernel_size=7, gate='hard_sigmoid'))
    attn = custom.blocks[6][0].ghost1.short_conv
    assert attn.fc_h.conv.kernel_size == (1, 7) and attn.gate == 'hard_sigmoid'


def test_per_stage_kernel_sizes():
    model = GhostNetV2(dfc_kernel_sizes=(11, 9, 7), dfc_cfg=dict(gate='clip'))
    layers = [b for stage in model.blocks[:9] for b in stage]
    for stage, k in zip(GhostNetV2.paper_stages, (11, 9, 7)):
        for i in stage:
            attn = layers[i].ghost1.short_conv
            assert attn.fc_h.conv.kernel_size == (1, k)
            assert attn.fc_v.conv.kernel_size == (k, 1)
            assert attn.gate == 'clip'
    assert sorted(sum(GhostNetV2.paper_stages, ())) == list(range(2, 16))
    assert model.eval()(torch.randn(1, 3, 64, 80))[-1].shape == (1, 960, 2, 3)


@pytest.mark.parametrize('frozen_stages', [0, 3, 10])
def test_frozen_stages(frozen_stages):
    model = GhostNetV2(frozen_stages=frozen_stages)
    model.train()
    frozen = [model.conv_stem, model.bn1] + list(model.blocks[:frozen_stages])
    trainable = list(model.blocks[frozen_stages:])
    for module in frozen:
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules() if isinstance(m, _BatchNorm))
    for module in trainable:
        assert all(p.requires_grad for p in module.parameters())
        assert all(m.training for m in module.modules() if isinstance(m, _BatchNorm))


def test_frozen_stages_survive_train_switch_and_keep_statistics():
    model = GhostNetV2(frozen_stages=2)
    model.train()
    before = model.blocks[1][0].ghost1.primary_conv[1].running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(model.blocks[1][0].ghost1.primary_conv[1].running_mean, before)
    assert model.blocks[2][0].ghost1.primary_conv[1].training


def test_norm_eval():
    model = GhostNetV2(norm_eval=True)
    model.train()
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    assert model.training
    assert all(p.requires_grad for p in model.parameters())


def test_with_cp_same_output_and_gradients():
    x = torch.randn(2, 3, 96, 80)
    ref = GhostNetV2()
    cp = GhostNetV2(with_cp=True)
    cp.load_state_dict(ref.state_dict())
    ref.train(), cp.train()
    outs_ref, outs_cp = ref(x), cp(x)
    for a, b in zip(outs_ref, outs_cp):
        torch.testing.assert_close(a, b)
    sum(o.sum() for o in outs_ref).backward()
    sum(o.sum() for o in outs_cp).backward()
    torch.testing.assert_close(ref.blocks[6][2].ghost1.short_conv.proj.conv.weight.grad,
                               cp.blocks[6][2].ghost1.short_conv.proj.conv.weight.grad)
    assert all(b.with_cp for stage in cp.blocks[:9] for b in stage)


def test_norm_and_act_cfg_are_used():
    model = GhostNetV2(norm_cfg=dict(type='GN', num_groups=4), act_cfg=dict(type='HSwish'))
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    assert any(isinstance(m, torch.nn.Hardswish) for m in model.modules())
    assert model(torch.randn(1, 3, 64, 64))[-1].shape == (1, 960, 2, 2)


def test_pretrained_init_cfg_with_prefix(tmp_path):
    src = GhostNetV2()
    ckpt = tmp_path / 'classifier.pth'
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['head.layers.0.fc.weight'] = torch.zeros(1280, 960)
    torch.save(dict(state_dict=state), ckpt)
    dst = GhostNetV2(init_cfg=dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    dst.init_weights()
    for k, v in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[k], v)


@pytest.mark.parametrize('kwargs, name', [
    (dict(widen_factor=0), 'widen_factor'),
    (dict(widen_factor='1.0x'), 'widen_factor'),
    (dict(out_indices=(10, )), 'out_indices'),
    (dict(out_indices=3), 'out_indices'),
    (dict(out_indices=()), 'out_indices'),
    (dict(out_indices=(9, 4)), 'out_indices'),
    (dict(out_indices=(4, 4)), 'out_indices'),
    (dict(frozen_stages=11), 'frozen_stages'),
    (dict(frozen_stages=-2), 'frozen_stages'),
    (dict(output_stride=4), 'output_stride'),
    (dict(dfc_layers=(16, )), 'dfc_layers'),
    (dict(dfc_position='input'), 'dfc_position'),
    (dict(dfc_cfg=dict(gate='tanh')), 'gate'),
    (dict(dfc_kernel_sizes=(5, 5)), 'dfc_kernel_sizes'),
    (dict(dfc_kernel_sizes=(7, 4, 3)), 'dfc_kernel_sizes'),
])
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        GhostNetV2(**kwargs)
    assert 'received' in str(info.value)


@pytest.mark.parametrize('kwargs, message', [
    (dict(dfc_cfg=dict(kernal_size=3)), "dfc_cfg has unknown keys 'kernal_size' \\(did you mean "
                                        "'kernel_size'\\?\\)"),
    (dict(norm_cfg=dict(type='Bogus')), "norm_cfg type 'Bogus' is not a registered layer"),
    (dict(norm_cfg=dict(type='ReLU')), 'norm_cfg type .* is not a normalisation layer'),
    (dict(act_cfg=dict(type='BN')), 'act_cfg type .* is not an activation'),
    (dict(act_cfg=None), 'act_cfg must be a dict'),
    (dict(conv_cfg=dict(type='Foo')), "conv_cfg type 'Foo' is not a registered layer"),
])
def test_layer_configs_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GhostNetV2(**kwargs)
