"""tools/analysis/profile_onnx.py (per-layer profiles in OpenVINO and ONNX Runtime, summed by op
type) and tools/analysis/rewrite_experiments.py (exact rewrites: equal outputs, both timings)."""
import json
import re

import pytest
import torch

from ghostv2_mm.apis import build_model
from ghostv2_mm.deploy.onnx_export import export_onnx, export_part

from .helpers import run_tool

CLASSIFIER = 'configs/mmpretrain/ghostnetv2_1.0x_shapes.py'


def table_rows(stdout):
    """(model, max abs diff, timing cells) of each row of a rewrite experiment's table."""
    return re.findall(r'^\| ([^|]+) \| ([0-9][0-9.e+-]*) \|(.*)\|$', stdout, re.M)


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


def test_rewrite_experiments_are_exact():
    result = run_tool('tools/analysis/rewrite_experiments.py', 'ghost-concat', '--runs', '2')
    diffs = [float(d) for d in re.findall(r'^\| [0-9, ]+ \| ([0-9.e+-]+) \|', result.stdout,
                                          re.M)]
    assert len(diffs) == 6 and max(diffs) < 1e-4, result.stdout
    result = run_tool('tools/analysis/rewrite_experiments.py', 'train-fc', '--runs', '1')
    diffs = [float(d) for d in re.findall(r'max abs diff ([0-9.e+-]+)', result.stdout)]
    assert len(diffs) == 9 and max(diffs) < 1e-4, result.stdout
    result = run_tool('tools/analysis/rewrite_experiments.py', 'static-export', '--runs', '1')
    assert float(re.search(r'max abs diff ([0-9.e+-]+)', result.stdout).group(1)) < 1e-5
    # train-gate raises if the broadcast gate differs from the up-sampled one.
    result = run_tool('tools/analysis/rewrite_experiments.py', 'train-gate', '--runs', '1')
    assert len(re.findall(r'\(\d+\.\d+x\)', result.stdout)) == 18


def test_pad_channels_experiment():
    """The padded and unpadded files of the four models give the same outputs and are timed in
    all three runtimes."""
    result = run_tool('tools/analysis/rewrite_experiments.py', 'pad-channels', '--runs', '1')
    rows = table_rows(result.stdout)
    assert [r[0] for r in rows] == ['GhostNetV2 1.0x classifier, 224',
                                    'GhostNetV1 1.0x classifier, 224',
                                    'YOLOv3-GhostNetV2 backbone, 320',
                                    'DeepLabV3-GhostNetV2 backbone OS8, 512']
    assert all(float(r[1]) < 1e-5 for r in rows)
    assert all(len(re.findall(r'\(\d+\.\d+x\)', r[2])) == 3 for r in rows)


def test_blocked_gates_and_gate_broadcast_experiments():
    """The padded structure with blocked gates against the padded structure before them (ONNX
    Runtime), and the broadcast DFC gate against the up-sampled one (three runtimes): the same
    outputs, every file timed."""
    result = run_tool('tools/analysis/rewrite_experiments.py', 'blocked-gates', '--runs', '1')
    rows = table_rows(result.stdout)
    assert [r[0] for r in rows][-1] == 'YOLOv3-GhostNetV2 backbone, 416' and len(rows) == 5
    assert all(float(r[1]) < 1e-5 and len(re.findall(r'\(\d+\.\d+x\)', r[2])) == 1
               for r in rows)
    result = run_tool('tools/analysis/rewrite_experiments.py', 'gate-broadcast', '--runs', '1')
    rows = table_rows(result.stdout)
    assert len(rows) == 3 and all(float(r[1]) < 1e-5 for r in rows)
    assert all(len(re.findall(r'\(\d+\.\d+x\)', r[2])) == 3 for r in rows)


def test_ghost_dup_experiment():
    """Ghost modules without Concat (the primary conv duplicated): bit-exact, timed in three
    runtimes."""
    result = run_tool('tools/analysis/rewrite_experiments.py', 'ghost-dup', '--runs', '1')
    rows = table_rows(result.stdout)
    assert len(rows) == 4 and all(float(r[1]) == 0 for r in rows), result.stdout
    assert all(len(re.findall(r'\(\d+\.\d+x\)', r[2])) == 3 for r in rows)


def test_int8_structure_experiment():
    """The files ONNX Runtime quantises with and without the DFC pooling as a conv give the same
    float outputs; each of the three int8 forms of the five models is timed."""
    result = run_tool('tools/analysis/rewrite_experiments.py', 'int8-structure', '--runs', '1')
    rows = table_rows(result.stdout)
    assert len(rows) == 5 and all(float(r[1]) < 1e-5 for r in rows), result.stdout
    assert all(len(re.findall(r'\(\d+\.\d+x\)', r[2])) == 3 for r in rows)
