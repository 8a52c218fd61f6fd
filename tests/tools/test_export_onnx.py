"""tools/deployment/export_onnx.py: the classifier and the multi-scale backbone to ONNX, checked
against PyTorch with onnxruntime."""
import io
import re

import numpy as np
import onnx
import pytest
import torch
from mmengine.runner import load_checkpoint

from ghostv2_mm.apis import build_model
from ghostv2_mm.deploy.onnx_export import export_onnx, export_part, randomize_for_check
from ghostv2_mm.deploy.profiles import resolve
from ghostv2_mm.deploy.runtime import RuntimeModel
from tests.utils import randomize_bn

from .helpers import run_tool

CASES = {
    'classifier': ('configs/mmpretrain/ghostnetv2_1.0x_in1k.py', {}),
    'backbone': ('configs/mmdet/yolov3_ghostv2_320.py', {'model.backbone.init_cfg': None}),
}


@pytest.mark.parametrize('part', ['classifier', 'backbone'])
def test_export_matches_pytorch(tmp_path, part):
    config, overrides = CASES[part]
    torch.manual_seed(0)
    model = randomize_for_check(build_model(config, overrides))
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'model.pth')
    out = tmp_path / f'{part}.onnx'
    result = run_tool('tools/deployment/export_onnx.py', config, '--checkpoint',
                      str(tmp_path / 'model.pth'), '--part', part, '--out', str(out))
    assert 'onnx.checker: ok' in result.stdout
    diffs = re.findall(r'input (\d+)x3x(\d+)x(\d+): max abs difference to PyTorch ([^,]+),',
                       result.stdout)
    assert [d[:3] for d in diffs] == [('1', '224', '224'), ('2', '224', '224'),
                                      ('1', '256', '352'), ('1', '97', '131')]
    assert all(float(d[3]) < 1e-4 for d in diffs)

    # Independently of the tool: dynamic axes in the file, and outputs at a size and batch it
    # did not check, from the weights of the checkpoint.
    dims = [d.dim_param for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', '', 'height', 'width']
    reference = build_model(config, overrides).eval()
    load_checkpoint(reference, str(tmp_path / 'model.pth'), map_location='cpu')
    x = torch.randn(3, 3, 160, 288)
    with torch.no_grad():
        expected = export_part(reference, part)(x)
    expected = [expected] if part == 'classifier' else list(expected)
    actual = RuntimeModel(str(out), 'onnxruntime', threads=2).run(x.numpy())
    assert len(actual) == (1 if part == 'classifier' else 3)
    for a, e in zip(actual, expected):
        assert a.shape == tuple(e.shape)
        assert np.abs(a - e.numpy()).max() < 1e-4
    if part == 'backbone':
        assert [a.shape[1:] for a in actual] == [(40, 20, 36), (112, 10, 18), (960, 5, 9)]


def test_static_export(tmp_path):
    """--static: batch 1 and --shape fixed, no size arithmetic left for the DFC gates' resizing,
    the same outputs as PyTorch."""
    config, overrides = CASES['classifier']
    out = tmp_path / 'static.onnx'
    # OpenVINO's (plain) files: ONNX Runtime's static one adds resizes of its own
    # (test_padded_export).
    result = run_tool('tools/deployment/export_onnx.py', config, '--static', '--shape', '160',
                      '192', '--backend', 'openvino', '--out', str(out))
    assert 'static 1x3x160x192' in result.stdout
    diffs = re.findall(r'input (\d+)x3x(\d+)x(\d+): max abs difference to PyTorch ([^,]+),',
                       result.stdout)
    assert [d[:3] for d in diffs] == [('1', '160', '192')] and float(diffs[0][3]) < 1e-4
    graph = onnx.load(str(out)).graph
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 3, 160, 192]
    dynamic = tmp_path / 'dynamic.onnx'
    run_tool('tools/deployment/export_onnx.py', config, '--shape', '160', '192', '--out',
             str(dynamic), '--check-shapes', '1', '160', '192', '--backend', 'openvino')

    def optimized_ops(path):
        # The graph ONNX Runtime runs after its basic optimisations (constant folding).
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(path) + '.opt.onnx'
        ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
        return [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]

    # The 14 DFC gates' resize sizes: constants in the static file, computed on every call in the
    # dynamic one.
    static_ops, dynamic_ops = optimized_ops(out), optimized_ops(dynamic)
    assert 'Shape' not in static_ops and static_ops.count('Resize') == 14, sorted(set(static_ops))
    assert dynamic_ops.count('Shape') >= 14
    bad = run_tool('tools/deployment/export_onnx.py', config, '--static', '--check-shapes', '2',
                   '224', '224', '--out', str(tmp_path / 'x.onnx'), check=False)
    assert bad.returncode != 0 and 'a --static file takes only 1 224 224' in bad.stderr


def test_padded_export(tmp_path):
    """The default export (ONNX Runtime's fp32 profile) pads the Ghost modules' channels to 16
    and, in a static file, gives the SE and DFC gates their blocked-layout forms (OpenVINO's
    profile does neither): the same outputs, and ONNX Runtime runs the whole network in its
    blocked layout, with one reorder left (the pooled features, to the classifier's head)."""
    import onnxruntime as ort
    config, overrides = CASES['classifier']
    torch.manual_seed(0)
    torch.save({'state_dict': randomize_for_check(build_model(config, overrides)).state_dict()},
               tmp_path / 'model.pth')
    files = {}
    for pad, backend in (('16', 'onnxruntime'), ('0', 'openvino')):
        files[pad] = tmp_path / f'pad{pad}.onnx'
        result = run_tool('tools/deployment/export_onnx.py', config, '--checkpoint',
                          str(tmp_path / 'model.pth'), '--static', '--shape', '160', '192',
                          '--backend', backend, '--out', str(files[pad]))
        assert 'onnxruntime matches PyTorch within 1e-04 and' in result.stdout

    def primary_channels(path):
        return {init.name: init.dims[0] for init in onnx.load(str(path)).graph.initializer
                if 'primary_conv' in init.name and len(init.dims) == 4}

    padded, plain = primary_channels(files['16']), primary_channels(files['0'])
    assert sorted(set(plain.values()))[:4] == [8, 12, 20, 24]
    assert all(c % 16 == 0 for c in padded.values()) and max(padded.values()) == 480

    def reorders(path):
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(path) + '.opt.onnx'
        ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
        ops = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
        return ops.count('ReorderInput') + ops.count('ReorderOutput')

    # At 160x192 the stride-32 maps are 5x6 and their DFC gates 2x3, resized by non-integer
    # factors: the blocked form resizes them by whole factors.
    assert reorders(files['16']) == 1 and reorders(files['0']) > 50
    x = np.random.RandomState(0).randn(1, 3, 160, 192).astype(np.float32)
    a, b = (RuntimeModel(str(files[p]), 'onnxruntime', threads=2).run(x)[0] for p in files)
    assert np.abs(a - b).max() < 1e-4
    bad = run_tool('tools/deployment/export_onnx.py', config, '--backend', 'onnxruntime',
                   '--precision', 'bf16', check=False)
    assert bad.returncode != 0 and '--precision bf16 is not available for onnxruntime' in \
        bad.stderr


def test_export_errors(tmp_path):
    config = CASES['backbone'][0]
    bad = run_tool('tools/deployment/export_onnx.py', config, '--part', 'classifier', '--out',
                   str(tmp_path / 'x.onnx'), check=False)
    assert bad.returncode != 0 and 'part="classifier" needs an mmpretrain classifier' in bad.stderr
    bad = run_tool('tools/deployment/export_onnx.py', config, '--check-shapes', '1', '64',
                   check=False)
    assert bad.returncode != 0 and '--check-shapes takes (batch, height, width)' in bad.stderr
    # A tolerance no float computation meets: the comparison is real and fails loudly.
    bad = run_tool('tools/deployment/export_onnx.py', CASES['classifier'][0], '--out',
                   str(tmp_path / 'y.onnx'), '--check-shapes', '1', '64', '64', '--tolerance',
                   '1e-30', check=False)
    assert bad.returncode != 0 and '> --tolerance' in bad.stderr


def test_wrapper_keeps_the_model_in_eval_mode():
    """torch.onnx.export restores the mode the module had; a wrapper in training mode would
    put the wrapped classifier's BN layers into training mode after the export. (64x64 also
    traces the deepest DFC layer at 2x2, where the pooling kernel must stay a literal.)"""
    model = randomize_bn(build_model(CASES['classifier'][0]))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x, mode='tensor')
        torch.onnx.export(export_part(model, 'classifier'), x, io.BytesIO())
        torch.testing.assert_close(model(x, mode='tensor'), before)
    assert not model.training


def test_file_to_quantise_keeps_plain_gates(tmp_path):
    """ONNX Runtime's int8 profile: a static padded file with the plain SE and DFC gates and the
    DFC pooling as a conv (the file ONNX Runtime quantises); its fp32 profile has the blocked
    gate forms."""
    config, overrides = CASES['classifier']
    ops = {}
    for precision in ('fp32', 'int8'):
        model = build_model(config, overrides).eval()
        model.backbone.switch_to_deploy()
        model.backbone = resolve('onnxruntime', precision).apply(model.backbone)
        path = str(tmp_path / f'{precision}.onnx')
        export_onnx(export_part(model, 'classifier'), path, 'classifier', dynamic=False)
        ops[precision] = [n.op_type for n in onnx.load(path).graph.node]
    # 14 DFC gates; 7 SE gates up-sampled; the four 3x3 -> 7x7 gates through a max pooling.
    assert ops['int8'].count('Resize') == 14 and 'MaxPool' not in ops['int8']
    assert 'AveragePool' not in ops['int8'] and ops['fp32'].count('AveragePool') == 14
    assert ops['fp32'].count('Resize') == 14 + 7 and ops['fp32'].count('MaxPool') == 4


def test_random_weights_give_a_check_that_can_fail(tmp_path):
    """Without --checkpoint the weights are randomised so that the outputs depend on the input,
    and the tolerance is relative to that dependence: an export that ignored its input would
    fail."""
    from ghostv2_mm.deploy.onnx_export import compare_onnx
    config, overrides = CASES['classifier']
    torch.manual_seed(0)
    model = randomize_for_check(build_model(config, overrides))
    path = str(tmp_path / 'cls.onnx')
    export_onnx(export_part(model, 'classifier'), path, 'classifier', shape=(64, 64))
    (_, diff, scale), = compare_onnx(export_part(model, 'classifier'),
                                     RuntimeModel(path, 'onnxruntime'), [(1, 64, 64)])
    assert scale > 1e-3 and diff < 1e-2 * scale

    class Constant(torch.nn.Module):  # the same logits whatever the input
        def forward(self, x):
            with torch.no_grad():
                return model(torch.zeros_like(x), mode='tensor')
    (_, diff, scale), = compare_onnx(Constant(), RuntimeModel(path, 'onnxruntime'),
                                     [(1, 64, 64)])
    assert scale == 0 and diff > 1e-3
