"""tools/analysis/profile_onnx.py: per-layer profiles in OpenVINO, ONNX Runtime and ncnn summed
by op type, and LiteRT's ops by type and by who runs them (XNNPACK or TFLite's kernels)."""
import json
import re

import pytest
import torch

from ghostv2_mm.apis import build_model
from ghostv2_mm.deploy.onnx_export import export_onnx, export_part

from ..deploy.test_mobile_runtimes import require
from .helpers import run_tool

CLASSIFIER = 'configs/mmpretrain/ghostnetv2_1.0x_shapes.py'


def export(tmp_path_factory, dynamic):
    torch.manual_seed(0)
    model = build_model(CLASSIFIER, {'model.backbone.init_cfg': None}).eval()
    model.backbone.switch_to_deploy()
    path = str(tmp_path_factory.mktemp('onnx') / 'ghostnetv2.onnx')
    export_onnx(export_part(model, 'classifier'), path, 'classifier', shape=(64, 64),
                dynamic=dynamic)
    return path


@pytest.fixture(scope='module')
def classifier_onnx(tmp_path_factory):
    return export(tmp_path_factory, dynamic=True)


@pytest.fixture(scope='module')
def static_onnx(tmp_path_factory):
    return export(tmp_path_factory, dynamic=False)


def last_line(result):
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize('runtime,conv,gate', [('openvino', 'Convolution', 'Interpolate'),
                                               ('onnxruntime', 'Conv', 'Resize')])
def test_profile_onnx(classifier_onnx, runtime, conv, gate, tmp_path):
    out = tmp_path / 'profile.json'
    # export_onnx writes dynamic sizes: the tool needs --shape, and says so without it.
    result = run_tool('tools/analysis/profile_onnx.py', classifier_onnx, '--runtime', runtime,
                      check=False)
    assert result.returncode != 0 and '--shape H W' in last_line(result)
    # 224: OpenVINO reports a layer whose mean time rounds down to 0 us as not run, which the
    # last stages' gate up-samplings at 64x64 (about 1 us) would be now and then.
    result = run_tool('tools/analysis/profile_onnx.py', classifier_onnx, '--runtime', runtime,
                      '--shape', '224', '224', '--runs', '3', '--top', '5', '--out', str(out))
    profile = json.loads(out.read_text())['results'][classifier_onnx]
    types = profile['types']
    # GhostNetV2 1.0x: 14 DFC branches, each with one up-sampling of its gate. A runtime may run
    # some of them with its reference kernel, a type of its own ('Interpolate (ref_f32)').
    assert sum(n for key, (_, n) in types.items() if key.split(' (')[0] == gate) == 14, types
    assert types[conv][0] > 0 and types[conv][1] >= 14
    total = sum(ms for ms, _ in types.values())
    assert total == pytest.approx(sum(layer[-1] for layer in profile['layers']))
    assert re.search(rf'\| {conv} \| [0-9.]+ \(\d+\) \|', result.stdout), result.stdout


def test_profile_ncnn(classifier_onnx, static_onnx, tmp_path):
    require('ncnn')
    # ncnn fixes every size at conversion: a dynamic file is refused, and so is --shape.
    for args in ([classifier_onnx], [static_onnx, '--shape', '64', '64']):
        result = run_tool('tools/analysis/profile_onnx.py', *args, '--runtime', 'ncnn',
                          check=False)
        assert result.returncode != 0 and 'static' in last_line(result), result.stderr
    out = tmp_path / 'profile.json'
    result = run_tool('tools/analysis/profile_onnx.py', static_onnx, '--runtime', 'ncnn',
                      '--threads', '1', '--runs', '3', '--out', str(out))
    profile = json.loads(out.read_text())['results'][static_onnx]
    types = profile['types']
    assert types['Interp'][1] == 14, types  # the DFC gates' up-sampling
    assert types['Convolution'][0] > 0 and types['ConvolutionDepthWise'][1] >= 14
    # Every layer of the file but its input is timed, once.
    assert sum(n for _, n in types.values()) == len(profile['layers']) > 100
    assert sum(ms for ms, _ in types.values()) == pytest.approx(
        sum(layer[-1] for layer in profile['layers']))
    assert 'a Split takes' in result.stdout
    assert re.search(r'\| Convolution \| [0-9.]+ \(\d+\) \|', result.stdout), result.stdout


def test_profile_litert(static_onnx, tmp_path):
    """One onnx2tf conversion (about 30 s): XNNPACK takes every op but the DFC gates'
    up-sampling (and the SE gates' hard sigmoid), which split it into partitions."""
    require('litert')
    out = tmp_path / 'profile.json'
    result = run_tool('tools/analysis/profile_onnx.py', static_onnx, '--runtime', 'litert',
                      '--threads', '1', '--runs', '3', '--out', str(out))
    profile = json.loads(out.read_text())['results'][static_onnx]
    types = profile['types']
    own = {op: n for op, (_, n) in types.items() if op.endswith('(TFLite kernel)')}
    assert own.get('RESIZE_NEAREST_NEIGHBOR (TFLite kernel)') == 14, types
    assert profile['partitions'] == sum(own.values()) + 1
    assert types['CONV_2D'] == [None, types['CONV_2D'][1]] and types['CONV_2D'][1] > 14
    assert profile['wall_ms'] > 0
    assert "no per-op times" in result.stdout
    assert re.search(rf'\| XNNPACK partitions \| {profile["partitions"]} \|', result.stdout)
