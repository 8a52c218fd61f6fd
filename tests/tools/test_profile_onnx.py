"""tools/analysis/profile_onnx.py: per-layer profiles in OpenVINO and ONNX Runtime, summed by op
type."""
import json
import re

import pytest
import torch

from ghostv2_mm.apis import build_model
from ghostv2_mm.deploy.onnx_export import export_onnx, export_part

from .helpers import run_tool

CLASSIFIER = 'configs/mmpretrain/ghostnetv2_1.0x_shapes.py'


@pytest.fixture(scope='module')
def classifier_onnx(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(CLASSIFIER, {'model.backbone.init_cfg': None}).eval()
    model.backbone.switch_to_deploy()
    path = str(tmp_path_factory.mktemp('onnx') / 'ghostnetv2.onnx')
    export_onnx(export_part(model, 'classifier'), path, 'classifier', shape=(64, 64))
    return path


@pytest.mark.parametrize('runtime,conv,gate', [('openvino', 'Convolution', 'Interpolate'),
                                               ('onnxruntime', 'Conv', 'Resize')])
def test_profile_onnx(classifier_onnx, runtime, conv, gate, tmp_path):
    out = tmp_path / 'profile.json'
    # export_onnx writes dynamic sizes: the tool needs --shape, and says so without it.
    result = run_tool('tools/analysis/profile_onnx.py', classifier_onnx, '--runtime', runtime,
                      check=False)
    assert result.returncode != 0 and '--shape H W' in result.stderr.strip().splitlines()[-1]
    result = run_tool('tools/analysis/profile_onnx.py', classifier_onnx, '--runtime', runtime,
                      '--shape', '64', '64', '--runs', '3', '--top', '5', '--out', str(out))
    profile = json.loads(out.read_text())['results'][classifier_onnx]
    types = profile['types']
    # GhostNetV2 1.0x: 14 DFC branches, each with one up-sampling of its gate.
    assert types[gate][1] == 14, types
    assert types[conv][0] > 0 and types[conv][1] >= 14
    total = sum(ms for ms, _ in types.values())
    assert total == pytest.approx(sum(layer[-1] for layer in profile['layers']))
    assert re.search(rf'\| {conv} \| [0-9.]+ \(\d+\) \|', result.stdout), result.stdout
