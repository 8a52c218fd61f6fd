"""Export transforms (ghostv2_mm.deploy.transforms) and profiles (ghostv2_mm.deploy.profiles): each
transform is exact on the inference structure, the padded structure has every Ghost module's
halves in whole 16-channel blocks with zeros in the added channels, the whole-factor nearest
resize equals ``F.interpolate`` at every size, and the profile table gives each runtime its
transforms; the model itself knows no runtime."""
import ast
import glob
import inspect

import pytest
import torch
import torch.nn.functional as F

from ghostv2_mm import GhostNetV2
from ghostv2_mm.deploy import profiles, transforms
from ghostv2_mm.deploy.transforms import (MAX_UPSAMPLED_GATE, BlockedDFCAttention,
                                          BlockedSqueezeExcite, ConvPoolDFCAttention,
                                          SelectOutputs, nearest_resize)
from ghostv2_mm.models.deploy import DeployDFCAttention
from tests.utils import randomize_bn

ALL = tuple(range(10))


def deployed(**kwargs):
    """A trained-like network (randomised BN) and its inference structure, same weights (the
    same for the same arguments)."""
    torch.manual_seed(0)
    trained = randomize_bn(GhostNetV2(**kwargs))
    deploy = GhostNetV2(**kwargs)
    deploy.load_state_dict(trained.state_dict())
    return trained, deploy.eval().switch_to_deploy()


def ghost_modules(model):
    return [m for m in model.modules() if type(m).__name__ == 'GhostModule']


@pytest.mark.parametrize('kwargs', [dict(), dict(widen_factor=1.3, output_stride=8),
                                    dict(dfc_layers=(), widen_factor=1.1),
                                    dict(widen_factor=1.6, dfc_position='both',
                                         dfc_cfg=dict(gate_position='after', up_mode='bilinear'))])
def test_padded_structure_keeps_outputs(kwargs):
    trained, model = deployed(out_indices=ALL, **kwargs)
    padded = transforms.pad_channels(model, 16)
    assert isinstance(padded, SelectOutputs) and padded.backbone is model
    assert transforms.pad_channels(padded, 16) is padded  # padded once
    x = torch.randn(2, 3, 97, 131)
    with torch.no_grad():
        for a, b in zip(trained(x), padded(x)):
            assert a.shape == b.shape
            torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
    for module in ghost_modules(model):
        init = module.primary_conv[0].out_channels
        assert module.cheap_operation[0].out_channels == init and init % 16 == 0


def test_padded_channels_hold_zeros():
    _, model = deployed(out_indices=(6, ))
    padded = transforms.pad_channels(model, 16)
    features = {}
    model.blocks[6][0].ghost1.register_forward_hook(lambda m, i, o: features.update(mid=o))
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
    assert torch.equal(padded.selects[0].index, torch.cat([torch.arange(56), 64 + torch.arange(56)]))
    assert out[:, 56:64].abs().max() == 0 and out[:, 120:].abs().max() == 0


def test_transforms_replace_the_backbone_of_a_model():
    _, backbone = deployed()
    holder = torch.nn.Module()
    holder.backbone = backbone
    assert transforms.pad_channels(holder) is holder and isinstance(holder.backbone, SelectOutputs)
    # Later transforms find the GhostNetV2 inside.
    transforms.blocked_gates(holder)
    assert sum(isinstance(m, BlockedDFCAttention) for m in holder.modules()) == 14
    with pytest.raises(ValueError, match='multiple must be an int >= 2'):
        transforms.pad_channels(deployed()[1], 1)
    with pytest.raises(ValueError, match='switch_to_deploy'):
        transforms.pad_channels(GhostNetV2())
    mobile = torch.nn.Conv2d(3, 8, 3)
    assert transforms.pad_channels(mobile) is mobile and transforms.blocked_gates(mobile) is mobile


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


@pytest.mark.parametrize('kwargs', [dict(), dict(output_stride=8),
                                    dict(dfc_cfg=dict(gate='hard_sigmoid',
                                                      gate_position='after'))])
@pytest.mark.parametrize('names', [('pad_channels', 'blocked_gates'),
                                   ('pad_channels', 'conv_pooling'), ('blocked_gates', ),
                                   ('conv_pooling', )])
def test_gate_and_pooling_forms_are_exact(kwargs, names):
    # 7x7 and 3x5 maps at stride 32: their gates are resized by non-integer factors.
    trained, model = deployed(out_indices=(2, 4, 6, 9), **kwargs)
    for name in names:
        model = getattr(transforms, name)(model) if name != 'pad_channels' else \
            transforms.pad_channels(model, 16)
    kinds = {'blocked_gates': (BlockedSqueezeExcite, BlockedDFCAttention),
             'conv_pooling': (ConvPoolDFCAttention, )}[names[-1]]
    for kind in kinds:
        assert sum(isinstance(m, kind) for m in model.modules()) == \
            (7 if kind is BlockedSqueezeExcite else 14)
    for size in ((224, 224), (96, 160)):
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            for e, a in zip(trained(x), model(x)):
                torch.testing.assert_close(a, e, rtol=0, atol=1e-5)


def test_conv_pooling_equals_average_pooling():
    _, model = deployed()
    plain = next(m for m in model.modules() if type(m) is DeployDFCAttention)
    attn = ConvPoolDFCAttention(plain)
    # A constant of the structure, not a weight: checkpoints do not change.
    assert 'pool_weight' in dict(attn.named_buffers()) and \
        not any(k.endswith('pool_weight') for k in attn.state_dict())
    channels = attn.proj.in_channels
    calls = []
    attn.proj.register_forward_pre_hook(lambda m, args: calls.append(args[0]))
    # Even and odd sides, and a 1-pixel side (the pooling narrows to 2x1, the conv steps aside).
    for size in ((8, 8), (7, 9), (1, 6)):
        x = torch.randn(2, channels, *size)
        with torch.no_grad():
            torch.testing.assert_close(attn(x), plain(x), rtol=0, atol=1e-6)
        kernel = tuple(2 if side >= 2 else 1 for side in size)
        torch.testing.assert_close(calls[-1], F.avg_pool2d(x, kernel, kernel), rtol=0, atol=1e-6)


def test_profiles_table():
    resolve = profiles.resolve
    assert resolve('onnxruntime', 'fp32').module_transforms == ('pad_channels', 'blocked_gates')
    # Blocked gates fix sizes when traced: static files only.
    assert resolve('onnxruntime', 'fp32', static=False).module_transforms == ('pad_channels', )
    int8 = resolve('onnxruntime', 'int8')
    assert int8.module_transforms == ('pad_channels', 'conv_pooling')
    assert int8.graph_transforms == ('unshare_parameters', )
    for precision in ('fp32', 'bf16', 'int8'):
        assert resolve('openvino', precision).transforms == ()
    assert resolve('pytorch', 'fp32').module_transforms == ('channels_last', )
    with pytest.raises(ValueError, match='must be one of'):
        resolve('tensorrt', 'fp32')
    # Every transform a row names exists.
    for names in profiles.TRANSFORMS.values():
        for name in names:
            assert name in profiles.GRAPH_TRANSFORMS or callable(getattr(transforms, name))


def test_profile_apply_gives_the_structure():
    trained, model = deployed()
    model = resolve_apply = profiles.resolve('onnxruntime', 'fp32').apply(model)
    assert isinstance(resolve_apply, SelectOutputs)
    assert any(isinstance(m, BlockedSqueezeExcite) for m in model.modules())
    _, plain = deployed()
    assert profiles.resolve('openvino', 'fp32').apply(plain) is plain
    assert not any(isinstance(m, (SelectOutputs, BlockedSqueezeExcite, BlockedDFCAttention,
                                  ConvPoolDFCAttention)) for m in plain.modules())
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        for e, a, b in zip(trained(x), model(x), plain(x)):
            torch.testing.assert_close(a, e, rtol=0, atol=1e-5)
            torch.testing.assert_close(b, e, rtol=0, atol=1e-5)


def test_the_model_knows_no_runtime():
    """ghostv2_mm/models imports nothing of the deploy layer, and GhostNetV2 takes no runtime
    argument."""
    for path in glob.glob('ghostv2_mm/models/**/*.py', recursive=True):
        tree = ast.parse(open(path).read())
        package = path.split('/')[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                resolved = base + (node.module or '').split('.')
                assert resolved[:2] != ['ghostv2_mm', 'deploy'], (path, node.module)
    arguments = set(inspect.signature(GhostNetV2).parameters)
    assert not arguments & {'pad_channels', 'channels_last', 'channel_selects'}
    assert not any(hasattr(GhostNetV2(), name) for name in ('pad_channels', 'channel_selects'))
