"""ncnn and LiteRT (ghostv2_mm.deploy.mobile converts, ghostv2_mm.deploy.runtime runs): a static
GhostNetV2 classifier converted by pnnx and onnx2tf computes what ONNX Runtime computes for the
same file; bad inputs and missing converters get one-line errors. tools/setup_env.sh installs
both converters, so these tests skip only where a converter is truly absent (the skip names it)."""
import copy
import json
import os
import shutil

import numpy as np
import onnx
import pytest
import torch

from ghostv2_mm.apis import build_model
from ghostv2_mm.deploy import mobile
from ghostv2_mm.deploy.onnx_export import export_onnx, export_part, randomize_for_check
from ghostv2_mm.deploy.profiles import resolve
from ghostv2_mm.deploy.runtime import (IO_SUFFIX, PRECISIONS, NotInstalled, RuntimeModel,
                                       check_precision, onnxruntime_session)
from ghostv2_mm.errors import DeployError

CONFIG = 'configs/mmpretrain/ghostnetv2_1.0x_in1k.py'
DETECTOR = ('configs/mmdet/yolov3_ghostv2_320.py', {'model.backbone.init_cfg': None})
SHAPE = (64, 64)  # the ops of the 224 file at a twelfth of the cost
THREADS = 2
CONVERTERS = {'ncnn': mobile.pnnx_binary, 'litert': mobile.onnx2tf_binary}
RUNTIMES = {'ncnn': 'ncnn', 'litert': 'ai_edge_litert.interpreter'}


def require(backend):
    """Skip, naming what is missing, unless ``backend``'s converter and runtime are installed."""
    try:
        CONVERTERS[backend]()
    except NotInstalled as e:
        pytest.skip(str(e))
    pytest.importorskip(RUNTIMES[backend], reason=f'the {backend} runtime is not installed: run '
                        'tools/setup_env.sh')


def inputs(seed, num=2):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 3, *SHAPE)).astype(np.float32) for _ in range(num)]


def export_static(config, part, path, overrides=None):
    """Export a random-weight model of ``config`` whose BN statistics are re-estimated on random
    images, so that every layer's output, and so the model's, varies with the input at the
    scale of the outputs themselves."""
    torch.manual_seed(0)
    model = randomize_for_check(build_model(config, overrides))
    for bn in model.modules():
        if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
            bn.reset_running_stats()
            bn.momentum = None  # a cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for _ in range(2):
            export_part(model, part)(torch.randn(8, 3, *SHAPE))
    model.eval()
    deployed = copy.deepcopy(model)
    deployed.backbone.switch_to_deploy()
    deployed.backbone = resolve('ncnn', 'fp32').apply(deployed.backbone)
    export_onnx(export_part(deployed, part), path, part, SHAPE, dynamic=False)
    return path


@pytest.fixture(scope='module')
def classifier(tmp_path_factory):
    return export_static(CONFIG, 'classifier',
                         str(tmp_path_factory.mktemp('mobile') / 'classifier.onnx'))


@pytest.fixture(scope='module')
def reference(classifier):
    """ONNX Runtime's logits for two inputs and their input-dependent scale."""
    ort = RuntimeModel(classifier, 'onnxruntime', threads=THREADS)
    outputs = [ort.run(x)[0] for x in inputs(0)]
    scale = float(np.abs(outputs[0] - outputs[1]).max())
    return outputs, scale


def test_outputs_depend_on_the_input(reference):
    """The comparisons below can fail: the logits of two random images differ by a good part
    of the logits' own range."""
    outputs, scale = reference
    assert scale > 0.2 * float(np.abs(outputs[0]).max())


def max_relative_error(path, backend, reference, precision=None):
    """The largest difference to ONNX Runtime's logits over both inputs, relative to their
    input-dependent scale."""
    model = RuntimeModel(path, backend, precision, threads=THREADS)
    outputs, scale = reference
    assert model.output_names == ['logits'] and model.input_shape == [1, 3, *SHAPE]
    diffs = []
    for x, expected in zip(inputs(0), outputs):
        actual = model.run(x)[0]
        assert actual.shape == expected.shape and actual.dtype == np.float32
        diffs.append(float(np.abs(actual - expected).max()))
    return max(diffs) / scale


@pytest.fixture(scope='module')
def ncnn_file(classifier):
    require('ncnn')
    return mobile.convert_to_ncnn(classifier, classifier.replace('.onnx', '.param'))


@pytest.fixture(scope='module')
def litert_file(classifier):
    require('litert')
    return mobile.convert_to_litert(classifier, classifier.replace('.onnx', '.tflite'))


def test_ncnn_fp32_matches_onnxruntime(ncnn_file, reference):
    assert max_relative_error(ncnn_file, 'ncnn', reference) < 1e-4


def test_ncnn_fp16_storage(classifier, ncnn_file, reference, tmp_path):
    """fp16 weights halve the file; ncnn's fp16 storage and arithmetic stay close."""
    path = mobile.convert_to_ncnn(classifier, str(tmp_path / 'fp16.param'), fp16=True)
    size, size32 = (os.path.getsize(p.replace('.param', '.bin')) for p in (path, ncnn_file))
    assert size < 0.55 * size32
    assert max_relative_error(path, 'ncnn', reference) < 2e-2  # fp16 from the sidecar
    # The fp32 file run in fp16 is the same approximation.
    assert max_relative_error(ncnn_file, 'ncnn', reference, 'fp16') < 2e-2


def test_litert_fp32_matches_onnxruntime(litert_file, reference):
    assert max_relative_error(litert_file, 'litert', reference) < 1e-4


def test_litert_fp16_and_int8(classifier, litert_file, reference, tmp_path):
    """fp16 weights (computed in fp32) stay close; int8 everywhere (input and output too),
    calibrated on inputs like the test inputs, keeps the logits correlated with fp32's (the
    fidelity of trained models is measured on their validation sets, not here)."""
    fp16 = mobile.convert_to_litert(classifier, str(tmp_path / 'fp16.tflite'), 'fp16')
    assert max_relative_error(fp16, 'litert', reference) < 2e-2
    int8 = mobile.convert_to_litert(classifier, str(tmp_path / 'int8.tflite'), 'int8',
                                    calib_inputs=inputs(2, 8))
    assert os.path.getsize(int8) < 0.35 * os.path.getsize(litert_file)
    model = RuntimeModel(int8, 'litert', threads=THREADS)
    assert model.input_detail['dtype'] == np.int8 and model.output_details[0]['dtype'] == np.int8
    outputs, _ = reference
    for x, expected in zip(inputs(0), outputs):
        actual = model.run(x)[0]
        assert actual.dtype == np.float32
        assert np.corrcoef(actual.ravel(), expected.ravel())[0, 1] > 0.95
    with pytest.raises(DeployError, match='is a int8 LiteRT file, but precision fp32'):
        RuntimeModel(int8, 'litert', 'fp32')


@pytest.mark.parametrize('backend', ['ncnn', 'litert'])
def test_multi_scale_backbone(backend, tmp_path):
    """A detector's backbone: several 4-D outputs, which ncnn returns without the batch axis and
    LiteRT channels-last (and, in int8, in another order); all come back as ONNX Runtime's, in
    its order."""
    require(backend)
    config, overrides = DETECTOR
    path = export_static(config, 'backbone', str(tmp_path / 'backbone.onnx'), overrides)
    converted = mobile.convert_to_ncnn(path, str(tmp_path / 'backbone.param')) \
        if backend == 'ncnn' else mobile.convert_to_litert(path, str(tmp_path / 'b.tflite'))
    ort = RuntimeModel(path, 'onnxruntime', threads=THREADS)
    model = RuntimeModel(converted, backend, threads=THREADS)
    assert model.output_names == ort.output_names and len(ort.output_names) == 3
    x = inputs(0, 1)[0]
    for expected, actual in zip(ort.run(x), model.run(x)):
        assert actual.shape == expected.shape and actual.shape[0] == 1
        assert np.abs(actual - expected).max() < 1e-4 * np.abs(expected).max()
    if backend == 'litert':
        # onnx2tf's int8 file keeps the outputs in its signature's order, not the file's.
        int8 = RuntimeModel(mobile.convert_to_litert(path, str(tmp_path / 'b8.tflite'), 'int8',
                                                     inputs(1, 4)), backend, threads=THREADS)
        for expected, actual in zip(ort.run(x), int8.run(x)):
            assert actual.shape == expected.shape
            assert np.corrcoef(actual.ravel(), expected.ravel())[0, 1] > 0.9


@pytest.mark.parametrize('backend', ['ncnn', 'litert'])
def test_bad_inputs_get_the_one_line_errors_of_every_backend(classifier, backend, request):
    """A wrong size, channel count, batch or dtype for the static file: the error ONNX Runtime's
    static file gets, naming the file."""
    path = request.getfixturevalue(f'{backend}_file')
    models = {'onnxruntime': (RuntimeModel(classifier, 'onnxruntime'), classifier),
              backend: (RuntimeModel(path, backend), path)}
    good = inputs(0, 1)[0]
    bad = {'size': np.zeros((1, 3, SHAPE[0] + 1, SHAPE[1]), np.float32),
           'channels': np.zeros((1, 1, *SHAPE), np.float32),
           'batch': np.zeros((2, 3, *SHAPE), np.float32),
           'layout': np.zeros((1, *SHAPE, 3), np.float32),
           'rank': np.zeros((3, *SHAPE), np.float32)}
    for model, file in models.values():
        model(good)
        for x in bad.values():
            with pytest.raises(DeployError) as e:
                model(x)
            message = str(e.value)
            assert '\n' not in message and message.startswith(f'input of shape {x.shape} does '
                                                              'not fit the static input')
            assert file in message
        with pytest.raises(DeployError, match='must be a real-valued .* dtype complex64'):
            model(good.astype(np.complex64))


def test_missing_converters_name_the_set_up_step(classifier, tmp_path, monkeypatch):
    monkeypatch.setenv('GHOSTV2_MM_PNNX', str(tmp_path / 'no-pnnx'))
    monkeypatch.setenv('GHOSTV2_MM_ONNX2TF', str(tmp_path / 'no-onnx2tf'))
    with pytest.raises(NotInstalled, match=r'pnnx is not installed .*run tools/setup_env\.sh'):
        mobile.convert_to_ncnn(classifier, str(tmp_path / 'm.param'))
    with pytest.raises(NotInstalled, match=r'onnx2tf is not installed .*run tools/setup_env\.sh'):
        mobile.convert_to_litert(classifier, str(tmp_path / 'm.tflite'))
    assert issubclass(NotInstalled, DeployError)
    assert not list(tmp_path.iterdir())


def test_dynamic_files_and_missing_sidecars_are_refused(classifier, ncnn_file, litert_file,
                                                        tmp_path):
    model = onnx.load(classifier)
    for dim in (0, 2, 3):
        model.graph.input[0].type.tensor_type.shape.dim[dim].dim_param = 'n'
    dynamic = str(tmp_path / 'dynamic.onnx')
    onnx.save(model, dynamic)
    with pytest.raises(DeployError, match='dynamic input shape .* export with --static'):
        mobile.convert_to_ncnn(dynamic, str(tmp_path / 'd.param'))
    copy_file = tmp_path / 'copy.param'
    copy_file.write_text(open(ncnn_file).read())
    with pytest.raises(DeployError, match=f'copy.param{IO_SUFFIX} does not exist'):
        RuntimeModel(str(copy_file), 'ncnn')
    old = tmp_path / 'old.tflite'  # a sidecar without the LiteRT tensor of each output
    shutil.copy(litert_file, old)
    io = json.loads(open(litert_file + IO_SUFFIX).read())
    for output in io['outputs']:
        output.pop('tensor')
    (tmp_path / f'old.tflite{IO_SUFFIX}').write_text(json.dumps(io))
    with pytest.raises(DeployError, match='does not name the LiteRT tensor of each output'):
        RuntimeModel(str(old), 'litert')
    (tmp_path / f'copy.param{IO_SUFFIX}').write_text('{"backend": "ncnn", "inp')  # cut short
    with pytest.raises(DeployError, match=f'copy.param{IO_SUFFIX} is damaged: not JSON'):
        RuntimeModel(str(copy_file), 'ncnn')
    (tmp_path / f'copy.param{IO_SUFFIX}').write_text('{"backend": "ncnn"}')
    with pytest.raises(DeployError, match="not as ghostv2_mm.deploy.mobile writes it .*'input'"):
        RuntimeModel(str(copy_file), 'ncnn')


def test_resize_inputs_get_empty_initializers():
    """Every Resize of the exported graph has empty roi and scales names (sizes given); the
    transform gives them empty tensors, which mean the same to ONNX Runtime."""
    from onnx import TensorProto, helper, numpy_helper
    x = helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 2, 3, 3])
    y = helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 2, 6, 6])
    sizes = numpy_helper.from_array(np.array([1, 2, 6, 6], np.int64), 'sizes')
    graph = helper.make_graph([helper.make_node('Resize', ['x', '', '', 'sizes'], ['y'],
                                                mode='nearest')], 'g', [x], [y], [sizes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    before = model.SerializeToString()
    assert mobile.fill_empty_resize_inputs(model) == 2
    assert mobile.fill_empty_resize_inputs(model) == 0
    onnx.checker.check_model(model, full_check=True)
    image = np.arange(18, dtype=np.float32).reshape(1, 2, 3, 3)
    outputs = [onnxruntime_session(m).run(None, {'x': image})[0]
               for m in (before, model.SerializeToString())]
    np.testing.assert_array_equal(*outputs)


def test_precisions_and_profiles():
    for backend, precisions in (('ncnn', ('fp32', 'fp16')), ('litert', ('fp32', 'fp16', 'int8'))):
        assert PRECISIONS[backend] == precisions
        for precision in precisions:
            check_precision(backend, precision)
            assert resolve(backend, precision).transforms == ()
    with pytest.raises(DeployError, match='precision bf16 is not available for litert'):
        check_precision('litert', 'bf16')
