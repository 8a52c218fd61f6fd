"""ghostv2_mm.deploy.quantize: int8 models in ONNX Runtime (QDQ) and OpenVINO (NNCF), the layers
kept in float, and the fidelity measures."""
import numpy as np
import onnx
import pytest
import torch

from ghostv2_mm.apis import build_model
from ghostv2_mm.deploy.onnx_export import export_onnx, export_part
from ghostv2_mm.deploy import runtime, transforms
from ghostv2_mm.deploy.quantize import (COMPUTE_OPS, DEFAULT_SENSITIVE_LAYERS,
                                        OPENVINO_FLOAT_MAX_SIDE, fidelity, layer_groups,
                                        matched_box_iou, name_nodes, pixel_agreement, quantize,
                                        select_nodes, small_map_nodes, top1_agreement,
                                        unshare_parameters)
from ghostv2_mm.errors import RuntimeCrash

CLASSIFIER = 'configs/mmpretrain/ghostnetv2_1.0x_shapes.py'
SIZE = 64
# GhostNetV2 1.0x: DFC attention in the first Ghost module of every bottleneck but the first two
# (14 of 16), SE in 7 of them.
NUM_DFC, NUM_SE = 14, 7


def _images(n, seed):
    """Smooth random images (normalised): closer to photographs than white noise."""
    rng = np.random.default_rng(seed)
    low = rng.standard_normal((n, 3, SIZE // 8, SIZE // 8)).astype(np.float32)
    return np.repeat(np.repeat(low, 8, axis=2), 8, axis=3) + \
        0.3 * rng.standard_normal((n, 3, SIZE, SIZE)).astype(np.float32)


@pytest.fixture(scope='module')
def classifier_onnx(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(CLASSIFIER, {'model.backbone.init_cfg': None}).eval()
    # A freshly initialised head (std 0.01) gives logits that hardly depend on the input.
    fc = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    torch.nn.init.normal_(fc.weight, std=0.5)
    if hasattr(model.backbone, 'switch_to_deploy'):
        model.backbone.switch_to_deploy()
    path = str(tmp_path_factory.mktemp('onnx') / 'end2end.onnx')
    export_onnx(export_part(model, 'classifier'), path, 'classifier', shape=(SIZE, SIZE))
    return path


@pytest.fixture(scope='module', params=['onnxruntime', 'openvino'])
def int8_default(request, classifier_onnx, tmp_path_factory):
    """The classifier quantised with the default sensitive layers kept in float."""
    backend = request.param
    work_dir = tmp_path_factory.mktemp(backend)
    return backend, work_dir, quantize(classifier_onnx, backend, 'int8', [_images(8, seed=1)],
                                       str(work_dir))


def _run(path, backend, x, precision='f32'):
    if backend == 'onnxruntime':
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        return np.concatenate([session.run(None, {'input': x[i:i + 1]})[0]
                               for i in range(len(x))])
    import openvino as ov
    compiled = ov.Core().compile_model(path, 'CPU', {'INFERENCE_PRECISION_HINT': precision})
    return np.concatenate([compiled(x[i:i + 1])[0] for i in range(len(x))])


def test_layer_groups_find_the_dfc_branches(classifier_onnx):
    model = onnx.load(classifier_onnx)
    groups = layer_groups(model)
    nodes = {n.name: n for n in model.graph.node}
    op_types = lambda group: sorted(nodes[name].op_type for name in groups[group])
    assert op_types('dfc.down') == ['AveragePool'] * NUM_DFC
    for group in ('dfc.proj', 'dfc.hfc', 'dfc.vfc'):
        assert op_types(group) == ['Conv'] * NUM_DFC
    kernels = {group: {tuple(onnx.helper.get_attribute_value(a))
                       for name in groups[group] for a in nodes[name].attribute
                       if a.name == 'kernel_shape'} for group in ('dfc.proj', 'dfc.hfc', 'dfc.vfc')}
    assert kernels == {'dfc.proj': {(1, 1)}, 'dfc.hfc': {(1, 5)}, 'dfc.vfc': {(5, 1)}}
    assert op_types('dfc.gate') == sorted(['Sigmoid', 'Resize', 'Mul'] * NUM_DFC)
    assert op_types('se').count('GlobalAveragePool') == NUM_SE
    assert op_types('output') == ['Gemm']
    assert op_types('stem') == ['Conv']
    assert groups['postprocess'] == []
    # Every node is in exactly one group.
    assert sorted(sum(groups.values(), [])) == sorted(nodes)


def test_select_nodes(classifier_onnx):
    model = onnx.load(classifier_onnx)
    groups = layer_groups(model)
    dfc = select_nodes(model, ['dfc'])
    assert len(dfc) == (4 + 3) * NUM_DFC  # down, proj, hfc, vfc; gate, resize, multiply
    assert set(select_nodes(model, ['Sigmoid'])) <= set(dfc)
    assert select_nodes(model, ['re:conv_stem']) == groups['stem']
    assert select_nodes(model, []) == []
    with pytest.raises(ValueError, match='neither a group'):
        select_nodes(model, ['no_such_group'])


def _float_nodes_ort(path, names):
    """Of ``names``, the nodes of the QDQ model that run in float: ONNX Runtime runs a node in
    int8 when its data inputs are all dequantised and its outputs all quantised."""
    model = onnx.load(path)
    dequantised = {o for n in model.graph.node if n.op_type == 'DequantizeLinear'
                   for o in n.output}
    quantised = {i for n in model.graph.node if n.op_type == 'QuantizeLinear' for i in n.input}
    consumers = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    binary = ('Conv', 'Gemm', 'MatMul', 'Mul', 'Add')

    def int8(node):
        data = node.input[:2] if node.op_type in binary else node.input[:1]
        return set(data) <= dequantised and all(
            o in quantised or all(c.op_type == 'QuantizeLinear' for c in consumers.get(o, []))
            and consumers.get(o) for o in node.output)
    return {n.name for n in model.graph.node if n.name in names and not int8(n)}


def _float_ops_ov(path, names):
    """Of the OpenVINO operations named after ``names``, those whose inputs are neither
    fake-quantised nor int8 weights."""
    import openvino as ov
    model = ov.Core().read_model(path)
    found = {}
    for op in model.get_ops():
        name = op.get_friendly_name()
        base = name.split('/WithoutBiases')[0]
        if base in names and op.get_type_name() in ('Convolution', 'GroupConvolution', 'MatMul',
                                                     'Multiply', 'Sigmoid', 'Interpolate'):
            producers = [i.get_source_output().get_node() for i in op.inputs()]
            quantised = any(p.get_type_name() == 'FakeQuantize' or
                            (p.get_type_name() in ('Multiply', 'Convert', 'Subtract') and
                             _from_int8(p)) for p in producers)
            found[base] = found.get(base, True) and not quantised
    return {name for name, is_float in found.items() if is_float}, set(found)


def _from_int8(op, depth=3):
    """Whether a weight decompression chain (Convert, Subtract, Multiply) reads an int8 or
    uint8 constant."""
    for i in op.inputs():
        src = i.get_source_output().get_node()
        if src.get_type_name() == 'Constant' and src.get_output_element_type(0).get_type_name() \
                in ('i8', 'u8'):
            return True
        if depth and src.get_type_name() in ('Convert', 'Subtract', 'Multiply'):
            if _from_int8(src, depth - 1):
                return True
    return False


def test_quantize_keeps_sensitive_layers_float(tmp_path, classifier_onnx, int8_default):
    backend, work_dir, result = int8_default
    if backend == 'onnxruntime':
        assert result['files'] == [str(work_dir / 'end2end_int8.onnx')]
        names = {n.name: n.op_type for n in onnx.load(result['files'][0]).graph.node}
        assert 'QuantizeLinear' in names.values()
    else:
        assert result['files'] == [str(work_dir / 'end2end_int8.xml'),
                                   str(work_dir / 'end2end_int8.bin')]
        assert result['reduce_range'] is False
    assert all(p.exists() for p in map(type(work_dir), result['files']))
    model = onnx.load(classifier_onnx)
    expected = set(select_nodes(model, DEFAULT_SENSITIVE_LAYERS[backend]))
    assert set(result['ignored']) == expected and expected
    groups = layer_groups(model)
    dfc_convs = set(groups['dfc.hfc'])
    if backend == 'onnxruntime':
        assert _float_nodes_ort(result['files'][0], expected | dfc_convs) == expected
        # The float convs keep constant weights and biases (the exporter merged the zero
        # biases of this untrained network; see test_unshare_parameters).
        quantised = onnx.load(result['files'][0])
        constants = {t.name for t in quantised.graph.initializer}
        float_convs = [n for n in quantised.graph.node
                       if n.name in expected and n.op_type == 'Conv']
        assert float_convs and all(set(n.input[1:]) <= constants for n in float_convs)
    else:
        float_ops, seen = _float_ops_ov(result['files'][0], expected | dfc_convs)
        assert dfc_convs <= seen
        assert float_ops == (expected | set(result['small_maps'])) & seen
        assert 'Gemm' in ''.join(float_ops) and dfc_convs - float_ops

    # Quantising everything: the same layers are int8 now.
    result = quantize(classifier_onnx, backend, 'int8', [_images(4, seed=1)], str(tmp_path),
                      sensitive_layers=[])
    assert result['ignored'] == []
    if backend == 'onnxruntime':
        assert _float_nodes_ort(result['files'][0], expected | dfc_convs) == set()
    else:
        # NNCF quantises the inputs of convolutions and matrix products (not of gates), but for
        # the layers on small maps, which OpenVINO's int8 files keep float.
        small = set(result['small_maps'])
        assert small == set(small_map_nodes(model, (1, 3, SIZE, SIZE), OPENVINO_FLOAT_MAX_SIDE))
        assert _float_ops_ov(result['files'][0], dfc_convs | set(groups['output']))[0] == \
            (dfc_convs | set(groups['output'])) & small


def _compute_nodes(model, pattern):
    import re
    return {n.name for n in model.graph.node if n.op_type in COMPUTE_OPS
            and re.search(pattern, n.name)}


def test_small_map_nodes(classifier_onnx):
    """At 64x64 the stride-16 and stride-32 stages (blocks 6-9: 4x4 and 2x2 maps) are selected,
    their DFC and SE branches with them; at 224x224 (7x7 maps at stride 32) none."""
    model = onnx.load(classifier_onnx)
    name_nodes(model)
    small = set(small_map_nodes(model, (1, 3, 64, 64), 4))
    assert _compute_nodes(model, r'blocks\.[6-9]\.') <= small
    assert not _compute_nodes(model, r'blocks\.[0-4]\.') & small
    groups = layer_groups(model)
    # Blocks 6-8 hold 10 of the DFC branches and 5 of the SE blocks.
    pools = {n.name for n in model.graph.node if n.op_type == 'GlobalAveragePool'}
    assert len(small & set(groups['dfc.vfc'])) == 10 and len(small & pools & set(groups['se'])) == 5
    large = set(small_map_nodes(model, (1, 3, 224, 224), 4))
    assert not {n.name for n in model.graph.node if n.op_type in COMPUTE_OPS} & large


def test_openvino_int8_at_small_maps_runs(tmp_path, classifier_onnx):
    """OpenVINO's AMX int8 kernels crashed (SIGSEGV) on this classifier at 64x64 when its
    convs, depthwise convs, additions and the rest were all int8 (docs/quantization.md). Those
    layers at maps of at most 4x4 stay float, and the int8 file runs once in a subprocess: on an
    AMX CPU this test fails, rather than the whole run, if the crash comes back."""
    result = quantize(classifier_onnx, 'openvino', 'int8', [_images(4, seed=1)], str(tmp_path),
                      quantize_only=['conv', 'depthwise', 'add', 'other'])
    model = onnx.load(classifier_onnx)
    stages = _compute_nodes(model, r'blocks\.[67]\.')
    assert stages <= set(result['small_maps']) | set(result['ignored'])
    assert _float_ops_ov(result['files'][0], stages)[0] == stages
    # Earlier stages are int8.
    early = _compute_nodes(model, r'blocks\.[1-4]\.') & set(layer_groups(model)['conv'])
    assert early and not _float_ops_ov(result['files'][0], early)[0]
    runtime.check_runs(result['files'][0], 'openvino', 'int8', _images(1, seed=2))


def test_check_runs_reports_a_crash(tmp_path, classifier_onnx, monkeypatch):
    """A runtime that kills its process is reported as one line naming the file and the
    signal; the caller lives on."""
    monkeypatch.setattr(runtime, '_CHECK_SCRIPT',
                        'import os, signal; os.kill(os.getpid(), signal.SIGSEGV)')
    with pytest.raises(RuntimeCrash, match=r'openvino crashed \(SIGSEGV\) running .*'
                       r'end2end\.onnx \(int8, input 1x3x64x64\) on this CPU'):
        runtime.check_runs(classifier_onnx, 'openvino', 'int8', _images(1, seed=2))
    with pytest.raises(RuntimeCrash, match='SIGSEGV'):
        quantize(classifier_onnx, 'openvino', 'int8', [_images(2, seed=1)], str(tmp_path))


def _parameter_reads(model):
    constants = {t.name for t in model.graph.initializer}
    reads = {}
    for n in model.graph.node:
        if n.op_type in COMPUTE_OPS:
            for name in n.input[1:]:
                if name in constants:
                    reads[name] = reads.get(name, 0) + 1
    return reads


def test_unshare_parameters(tmp_path, classifier_onnx):
    import onnxruntime as ort
    from onnxruntime.quantization import quant_pre_process
    quant_pre_process(classifier_onnx, str(tmp_path / 'pre.onnx'))
    model = onnx.load(str(tmp_path / 'pre.onnx'))
    name_nodes(model)
    reads = _parameter_reads(model)
    # Untrained batch norms fold to all-zero biases, which the exporter stores once (behind
    # Identity nodes, which the pre-processing folds into one shared initializer).
    assert max(reads.values()) > 1
    x = _images(2, seed=3)
    run = lambda m: np.concatenate([
        ort.InferenceSession(m.SerializeToString(), providers=['CPUExecutionProvider']).run(
            None, {'input': x[i:i + 1]})[0] for i in range(len(x))])
    before = run(model)
    assert unshare_parameters(model) == sum(n - 1 for n in reads.values())
    assert set(_parameter_reads(model).values()) == {1}
    onnx.checker.check_model(model)
    np.testing.assert_array_equal(run(model), before)
    assert unshare_parameters(model) == 0


def test_int8_fidelity(tmp_path, classifier_onnx, int8_default):
    backend, _, result = int8_default
    x = _images(32, seed=2)
    reference = _run(classifier_onnx, backend, x)
    int8 = _run(result['files'][0], backend, x)
    # A random network gives every input nearly the same logits (one class wins everywhere):
    # what the quantised model must reproduce is their input-dependent part.
    mean = reference.mean(0)
    error = lambda out: np.linalg.norm(out - reference) / np.linalg.norm(reference - mean)
    assert fidelity('classification', [reference - mean], [int8 - mean]) >= 0.5
    assert error(int8) < 1
    # The thresholds tell a broken calibration apart: ranges from inputs 100x too small clip
    # every activation.
    broken = quantize(classifier_onnx, backend, 'int8', [_images(8, seed=1) * 0.01],
                      str(tmp_path))
    assert error(_run(broken['files'][0], backend, x)) > 1.5


def test_reduce_range_without_vnni(tmp_path, classifier_onnx, monkeypatch):
    """ONNX Runtime's int8 weights are 7-bit by default where the CPU lacks VNNI (its u8 x s8
    kernels add products in pairs in 16 bits: 255 * 127 * 2 saturates, 255 * 64 * 2 does not),
    8-bit where it has it; OpenVINO's never (NNCF)."""
    from onnx import numpy_helper

    import ghostv2_mm.deploy.quantize as quantize_module
    ranges = {}
    for vnni in (True, False):
        monkeypatch.setattr(quantize_module, 'has_vnni', lambda: vnni)
        result = quantize(classifier_onnx, 'onnxruntime', 'int8', [_images(2, seed=1)],
                          str(tmp_path / f'vnni_{vnni}'))
        assert result['reduce_range'] is not vnni
        weights = [numpy_helper.to_array(t) for t in onnx.load(result['files'][0]).graph.initializer
                   if t.data_type == onnx.TensorProto.INT8]
        ranges[vnni] = (min(w.min() for w in weights), max(w.max() for w in weights))
    assert ranges == {True: (-127, 127), False: (-64, 64)}
    monkeypatch.setattr(runtime, 'cpu_info', lambda: {'flags': 'sse avx2 fma'})
    assert not runtime.has_vnni()
    monkeypatch.setattr(runtime, 'cpu_info', lambda: {'flags': 'avx2 avx_vnni'})
    assert runtime.has_vnni()


def test_quantize_errors(tmp_path, classifier_onnx):
    with pytest.raises(ValueError, match='backend must be one of'):
        quantize(classifier_onnx, 'tensorrt', 'int8', [_images(1, 0)], str(tmp_path))
    with pytest.raises(ValueError, match='precision must be one of'):
        quantize(classifier_onnx, 'openvino', 'int4', [_images(1, 0)], str(tmp_path))
    with pytest.raises(ValueError, match='calib_inputs is empty'):
        quantize(classifier_onnx, 'onnxruntime', 'int8', [], str(tmp_path))


def test_top1_agreement():
    a = np.array([[1., 2., 0.], [3., 0., 1.], [0., 0., 5.], [1., 0., 0.]])
    b = np.array([[0., 2., 1.], [3., 4., 1.], [0., 0., 5.], [2., 0., 0.]])
    assert top1_agreement(a, b) == 0.75
    assert fidelity('classification', [[a[:2]], [a[2:]]], [[b[:2]], [b[2:]]]) == 0.75


def test_matched_box_iou():
    boxes = np.array([[0, 0, 10, 10, .9], [20, 20, 40, 40, .8], [50, 50, 60, 60, .1]])
    labels = np.array([0, 1, 2])
    assert matched_box_iou([(boxes, labels)], [(boxes, labels)]) == 1
    shifted = boxes.copy()
    shifted[0, :4] += [0, 0, 0, 10]  # IoU 0.5 with the original
    assert matched_box_iou([(boxes, labels)], [(shifted, labels)]) == pytest.approx(0.75)
    # A box of another class does not match; missing and extra boxes count as IoU 0.
    assert matched_box_iou([(boxes, labels)], [(boxes, np.array([0, 2, 2]))]) == 0.5
    assert matched_box_iou([(boxes, labels)], [(boxes[:1], labels[:1])]) == 0.5
    assert matched_box_iou([(boxes[:1], labels[:1])], [(boxes, labels)]) == 0.5
    # Boxes under the score threshold are left out; no boxes at all is perfect agreement.
    assert matched_box_iou([(boxes[2:], labels[2:])], [(boxes[:0], labels[:0])]) == 1
    per_image = lambda dets, labels: [np.asarray(dets)[None], np.asarray(labels)[None]]
    assert fidelity('detection', [per_image(boxes, labels)], [per_image(shifted, labels)]) == \
        pytest.approx(0.75)


def test_pixel_agreement():
    a = np.zeros((1, 1, 4, 4), np.int64)
    b = a.copy()
    b[..., 0, :] = 3
    assert pixel_agreement(a, b) == 0.75
    logits = np.zeros((1, 4, 4, 4), np.float32)
    logits[:, 3, 0, :] = 1
    assert pixel_agreement(a[:, 0], logits) == 0.75
    assert fidelity('segmentation', [[a]], [[b]]) == 0.75


def test_onnxruntime_quantises_the_dfc_pooling_as_a_conv(tmp_path):
    """The padded file ONNX Runtime quantises (``conv_pooling``): each DFC pooling is a depthwise
    2x2 conv of stride 2, found as ``dfc.down`` and quantised by default; the same outputs as
    the file with the poolings."""
    import onnxruntime as ort
    torch.manual_seed(0)
    files = {}
    for conv_pool in (False, True):
        torch.manual_seed(0)
        model = build_model(CLASSIFIER, {'model.backbone.init_cfg': None}).eval()
        model.backbone.switch_to_deploy()
        model.backbone = transforms.pad_channels(model.backbone, 16)
        if conv_pool:
            model.backbone = transforms.conv_pooling(model.backbone)
        files[conv_pool] = str(tmp_path / f'conv_pool_{conv_pool}.onnx')
        export_onnx(export_part(model, 'backbone'), files[conv_pool], 'backbone',
                    shape=(SIZE, SIZE), dynamic=False)
    graphs = {k: onnx.load(f) for k, f in files.items()}
    for graph in graphs.values():
        name_nodes(graph)
    downs = {k: [n.op_type for n in g.graph.node if n.name in layer_groups(g)['dfc.down']]
             for k, g in graphs.items()}
    assert downs == {False: ['AveragePool'] * NUM_DFC, True: ['Conv'] * NUM_DFC}
    assert not any(n.op_type == 'AveragePool' for n in graphs[True].graph.node)
    x = _images(1, seed=4)
    outputs = {k: ort.InferenceSession(f, providers=['CPUExecutionProvider']).run(None,
                                                                                {'input': x})
               for k, f in files.items()}
    for a, b in zip(outputs[False], outputs[True]):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5 * np.abs(a).max())

    result = quantize(files[True], 'onnxruntime', 'int8', [_images(4, seed=1)], str(tmp_path))
    quantised = onnx.load(result['files'][0])
    dequantised = {o for n in quantised.graph.node if n.op_type == 'DequantizeLinear'
                   for o in n.output}
    pool_convs = [n for n in quantised.graph.node if n.op_type == 'Conv' and
                  tuple(next(a.ints for a in n.attribute if a.name == 'kernel_shape')) == (2, 2)]
    assert len(pool_convs) == NUM_DFC
    assert all(set(n.input[:2]) <= dequantised for n in pool_convs)


def _detector_without_detections(path):
    """A detector-like graph: convs, then an NMS whose boxes all score below its threshold, and
    post-processing (Gather, Add) on its empty selection, as a random-weights detector has."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    weights = {'w_stem': rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
               'w_body': rng.standard_normal((8, 8, 1, 1)).astype(np.float32),
               'w_box': rng.standard_normal((4, 8, 1, 1)).astype(np.float32),
               'w_score': rng.standard_normal((1, 8, 1, 1)).astype(np.float32),
               'box_shape': np.array([4, 64], np.int64),
               'score_shape': np.array([1, 1, 64], np.int64),
               'low': np.array(100., np.float32), 'max_out': np.array([10], np.int64),
               'iou': np.array([0.5], np.float32), 'thr': np.array([0.], np.float32),
               'two': np.array(2, np.int64), 'one': np.array(1., np.float32)}
    nodes = [
        helper.make_node('Conv', ['input', 'w_stem'], ['stem'], pads=[1, 1, 1, 1]),
        helper.make_node('Relu', ['stem'], ['stem_act']),
        helper.make_node('Conv', ['stem_act', 'w_body'], ['body']),  # int8 (the others float)
        helper.make_node('Relu', ['body'], ['features']),
        helper.make_node('Conv', ['features', 'w_box'], ['box_map']),
        helper.make_node('Conv', ['features', 'w_score'], ['score_map']),
        helper.make_node('Reshape', ['box_map', 'box_shape'], ['box_rows']),
        helper.make_node('Transpose', ['box_rows'], ['boxes_2d'], perm=[1, 0]),
        helper.make_node('Unsqueeze', ['boxes_2d'], ['boxes'], axes=[0]),
        helper.make_node('Reshape', ['score_map', 'score_shape'], ['score_rows']),
        helper.make_node('Sub', ['score_rows', 'low'], ['scores']),  # all far below 0
        helper.make_node('NonMaxSuppression', ['boxes', 'scores', 'max_out', 'iou', 'thr'],
                         ['selected']),
        helper.make_node('Gather', ['selected', 'two'], ['index'], axis=1),
        helper.make_node('Gather', ['boxes_2d', 'index'], ['kept'], axis=0),
        helper.make_node('Add', ['kept', 'one'], ['dets']),
    ]
    graph = helper.make_graph(
        nodes, 'no_detections',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info('dets', TensorProto.FLOAT, ['k', 4])],
        [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 11)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_onnxruntime_int8_of_a_detector_that_detects_nothing(tmp_path):
    """ONNX Runtime's calibrator reduces every float tensor; after an NMS that selects nothing
    they are empty, and it failed there: the post-processing is split off before calibration
    and put back, in float, after it."""
    path = tmp_path / 'end2end.onnx'
    _detector_without_detections(path)
    calib = [np.random.default_rng(i).standard_normal((1, 3, 8, 8)).astype(np.float32)
             for i in range(2)]
    result = quantize(str(path), 'onnxruntime', 'int8', calib, str(tmp_path / 'int8'))
    quantized = onnx.load(result['files'][0])
    ops = [node.op_type for node in quantized.graph.node]
    assert 'QuantizeLinear' in ops[:ops.index('NonMaxSuppression')]  # the network is int8
    assert 'QuantizeLinear' not in ops[ops.index('NonMaxSuppression'):]  # the rest float
    assert [o.name for o in quantized.graph.output] == ['dets']
    outputs = runtime.RuntimeModel(result['files'][0], 'onnxruntime', threads=1)(calib[0])
    assert outputs['dets'].shape == (0, 4)
