"""Opening and running deployed models in ONNX Runtime, OpenVINO, ncnn and LiteRT: every part of
the package that runs a deployed file opens it here, so that threads, spinning, the inference
precision and static shapes are set in one place. Only numpy and the runtime itself are imported:
this module runs where PyTorch is absent.

OpenVINO runs float layers in bf16 by default on CPUs with AVX512-BF16 or AMX, so the precision
is always given. An IR written for a deployment records the precision it was deployed for
(:data:`PRECISION_KEY` in its runtime info, :func:`convert_to_openvino`), which
:class:`RuntimeModel` uses when no precision is asked for.

ncnn and LiteRT files come from :mod:`.mobile`, which writes beside each a sidecar
(:data:`IO_SUFFIX`) with the ONNX file's input and output names and shapes: ncnn names its blobs
``in0``/``out0`` and drops the batch axis, LiteRT runs channels-last, and :class:`RuntimeModel`
returns what ONNX Runtime returns for the same input.
"""
import functools
import json
import os
import os.path as osp
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..errors import DeployError, RuntimeCrash
from ..utils import check_choice
from .postprocess import METADATA_KEY
from .postprocess import OUTPUT_NAMES as POSTPROCESS_OUTPUTS
from .postprocess import detections, read_spec

BACKENDS = ('onnxruntime', 'openvino', 'ncnn', 'litert')
# The precisions of each backend: bf16 is OpenVINO's inference precision for a float file, int8
# a quantised file (ghostv2_mm.deploy.quantize; LiteRT's by its converter, .mobile), fp16 ncnn's
# storage and arithmetic precision (from fp16 or fp32 weights) or a LiteRT file of fp16 weights.
PRECISIONS = {'onnxruntime': ('fp32', 'int8'), 'openvino': ('fp32', 'bf16', 'int8'),
              'ncnn': ('fp32', 'fp16'), 'litert': ('fp32', 'fp16', 'int8')}
SUFFIXES = {'onnxruntime': '.onnx', 'openvino': '.xml', 'ncnn': '.param', 'litert': '.tflite'}
# The sidecar of an ncnn or LiteRT file: its input and outputs as the ONNX file had them.
IO_SUFFIX = '.io.json'
SETUP = 'tools/setup_env.sh'
# OpenVINO's names of the inference precisions. An int8 file runs its float layers in f32: they
# are float because they are sensitive.
OPENVINO_HINTS = {'fp32': 'f32', 'bf16': 'bf16', 'int8': 'f32'}
# Where an IR keeps its inference precision (OpenVINO's section for runtime options).
PRECISION_KEY = ['runtime_options', 'INFERENCE_PRECISION_HINT']


def check_precision(backend, precision, argument='precision', backend_argument='backend'):
    """Raise ``DeployError`` (a ``ValueError``) naming ``backend_argument`` or ``argument``
    unless ``backend`` is known and has ``precision``."""
    if backend not in BACKENDS:
        raise DeployError(f'{backend_argument} must be one of {BACKENDS}, but received '
                          f'{backend!r}')
    if precision not in PRECISIONS[backend]:
        raise DeployError(f'{argument} {precision} is not available for {backend} (choose from '
                          f'{", ".join(PRECISIONS[backend])}; bf16 is an OpenVINO inference '
                          'precision)')


class NotInstalled(DeployError):
    """A runtime or converter that the set-up (:data:`SETUP`) installs is not there."""


def check_input(x, input_shape, path):
    """Raise ``DeployError`` unless ``x`` is a real-valued array that fits ``input_shape`` (None:
    any size on that axis) of the model file ``path``; the same one line for every backend."""
    x = np.asarray(x)
    if x.dtype.kind not in 'fiu':
        raise DeployError(f'input must be a real-valued (float) array, but received dtype '
                          f'{x.dtype} for {path}')
    axes = [axis for axis, (have, want) in enumerate(zip(x.shape, input_shape))
            if isinstance(want, int) and have != want]
    if axes or x.ndim != len(input_shape):
        axis = axes[0] if axes else min(x.ndim, len(input_shape))
        raise DeployError(
            f'input of shape {tuple(x.shape)} does not fit the static input '
            f'{tuple(input_shape)} of {path} (axis {axis}); deploy with a dynamic config or '
            'another input size')


def cpu_count():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


def read_io(path):
    """The sidecar (:data:`IO_SUFFIX`) of the ncnn or LiteRT file ``path``."""
    sidecar = path + IO_SUFFIX
    if not osp.isfile(sidecar):
        raise DeployError(f'{sidecar} does not exist: ncnn and LiteRT files are converted by '
                          'ghostv2_mm.deploy.mobile, which writes it beside the file')
    with open(sidecar) as f:
        return json.load(f)


@functools.cache
def import_ncnn():
    """The ``ncnn`` module. Its OpenMP threads keep libgomp's default wait policy (they spin a
    moment after each layer): with ``OMP_WAIT_POLICY=PASSIVE`` every layer pays for waking them,
    and GhostNetV2 1.0x took 5.4x longer with 2 threads on an idle AMD EPYC
    (docs/performance.md)."""
    try:
        import ncnn
    except ImportError:
        raise NotInstalled(f'the ncnn runtime is not installed: run {SETUP}, which installs '
                           'requirements/mobile.txt into .venv') from None
    return ncnn


def ncnn_net(param_file, precision='fp32', threads=None):
    """The ``ncnn.Net`` of ``param_file`` and its ``.bin`` on the CPU, with ``threads`` threads
    (all cores when None). ncnn stores and computes in fp16 where the CPU can unless told
    otherwise: fp32 turns that off, so that the file computes what ONNX Runtime does."""
    ncnn = import_ncnn()
    check_choice('precision', precision, PRECISIONS['ncnn'])
    net = ncnn.Net()
    opt = net.opt  # options are set before loading: ncnn chooses its kernels there
    opt.use_vulkan_compute = False
    opt.num_threads = int(threads or cpu_count())
    fp16 = precision == 'fp16'
    opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = fp16
    opt.use_bf16_storage = False
    weights = osp.splitext(param_file)[0] + '.bin'
    if not osp.isfile(weights):
        raise DeployError(f'{weights}, the weights of {param_file}, does not exist')
    if net.load_param(param_file) != 0 or net.load_model(weights) != 0:
        raise DeployError(f'ncnn cannot load {param_file} (and {osp.basename(weights)}); '
                          'convert it with ghostv2_mm.deploy.mobile.convert_to_ncnn')
    return net


def litert_interpreter(path, threads=None):
    """A LiteRT interpreter of ``path`` (XNNPACK on the CPU) with ``threads`` threads (all cores
    when None), its tensors allocated."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise NotInstalled(f'the LiteRT runtime (ai-edge-litert) is not installed: run {SETUP}, '
                           'which installs requirements/mobile.txt into .venv') from None
    try:
        interpreter = Interpreter(model_path=path, num_threads=int(threads or cpu_count()))
    except ValueError as e:
        raise DeployError(f'LiteRT cannot load {path}: {str(e).splitlines()[0]}') from None
    interpreter.allocate_tensors()
    return interpreter


def _quantize(x, detail):
    """``x`` in the dtype of the LiteRT tensor ``detail`` (an int8 tensor's scale and zero
    point)."""
    if np.issubdtype(detail['dtype'], np.integer):
        scale, zero = detail['quantization']
        info = np.iinfo(detail['dtype'])
        return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(detail['dtype'])
    return x.astype(detail['dtype'], copy=False)


def _dequantize(y, detail):
    if np.issubdtype(detail['dtype'], np.integer) and detail['quantization'][0]:
        scale, zero = detail['quantization']
        return (y.astype(np.float32) - zero) * np.float32(scale)
    return y


def onnxruntime_session(model, threads=None, profile_prefix=None):
    """An ONNX Runtime CPU session of ``model`` (a path or serialised bytes) with ``threads``
    intra-op threads (all cores when None) that do not spin while idle: spinning threads slow
    down whatever else the process runs and the latencies measured beside them.
    ``profile_prefix`` turns ONNX Runtime's profiler on."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = int(threads)
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(model, options, providers=['CPUExecutionProvider'])


@functools.cache
def openvino_core():
    """The process's ``openvino.Core``: one per process, since each Core has its own thread
    pools, which would compete for the cores."""
    import openvino as ov
    return ov.Core()


def openvino_compile(model, precision=None, threads=None, shape=None, perf_count=False):
    """``model`` (an IR or ONNX path, or an ``openvino.Model``) compiled for the CPU, for the
    latency of one request at a time (``PERFORMANCE_HINT`` ``LATENCY``).

    Args:
        precision (str, optional): 'fp32', 'bf16' or 'int8' (:data:`OPENVINO_HINTS`). None: the
            precision the IR records, else fp32.
        threads (int, optional): Inference threads (all cores when None).
        shape (Sequence[int], optional): Reshape the input to this static shape first (lets
            OpenVINO fold the shape arithmetic of a dynamic file).
        perf_count (bool): Collect per-layer times (``PERF_COUNT``).

    Returns:
        tuple[openvino.CompiledModel, str]: The compiled model and its OpenVINO precision
        (``'f32'`` or ``'bf16'``).
    """
    core = openvino_core()
    if isinstance(model, str):
        if not osp.isfile(model):
            raise FileNotFoundError(f'OpenVINO model {model} does not exist')
        model = core.read_model(model)
    if precision is None:
        hint = model.get_rt_info(PRECISION_KEY).astype(str) if model.has_rt_info(PRECISION_KEY) \
            else 'f32'
    else:
        check_choice('precision', precision, OPENVINO_HINTS)
        hint = OPENVINO_HINTS[precision]
    if shape is not None:
        model.reshape({model.inputs[0].get_any_name(): list(shape)})
    config = {'INFERENCE_PRECISION_HINT': hint, 'PERFORMANCE_HINT': 'LATENCY'}
    if threads:
        config['INFERENCE_NUM_THREADS'] = int(threads)
    if perf_count:
        config['PERF_COUNT'] = True
    return core.compile_model(model, 'CPU', config), hint


def convert_to_openvino(onnx_file, xml_file, precision='fp32'):
    """Convert ``onnx_file`` into the OpenVINO IR ``xml_file`` (and its ``.bin``), weights kept
    in fp32, recording ``precision`` (``'fp32'`` or ``'bf16'``) as its inference precision.

    Returns:
        str: ``xml_file``.
    """
    import openvino as ov
    check_choice('precision', precision, ('fp32', 'bf16'))
    model = ov.convert_model(onnx_file)
    model.set_rt_info(OPENVINO_HINTS[precision], PRECISION_KEY)
    ov.save_model(model, xml_file, compress_to_fp16=False)
    return xml_file


class RuntimeModel:
    """A deployed file opened in its runtime.

    Args:
        path (str): ``.onnx`` for ONNX Runtime; ``.xml`` (or ``.onnx``) for OpenVINO; ncnn's
            ``.param`` (its ``.bin`` beside it) or a ``.tflite`` file, each with its sidecar
            (:data:`IO_SUFFIX`).
        backend (str): One of :data:`BACKENDS`.
        precision (str, optional): One of the backend's :data:`PRECISIONS`; for OpenVINO it
            sets the inference precision (None: what the IR records), for ncnn fp32 or fp16
            storage and arithmetic (None: the precision it was converted for). A LiteRT file
            has the precision it was converted to.
        threads (int, optional): Runtime threads; all cores when None.
        shape (Sequence[int], optional): OpenVINO: compile for this static input shape.

    A detector's graph that ends before the post-processing (ncnn's) records the rest in its
    ONNX metadata or sidecar (:mod:`.postprocess`): the model then returns the end-to-end
    graph's ``dets`` and ``labels``, computed from the graph's outputs.

    Attributes:
        input_name (str), input_shape (list[int | None]), output_names (list[str]),
        postprocess (dict | None).
    """

    def __init__(self, path, backend, precision=None, threads=None, shape=None):
        check_precision(backend, precision or 'fp32')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{backend} model {path} does not exist')
        self.backend, self.path = backend, path
        spec = None
        if backend in ('ncnn', 'litert'):
            self.io = read_io(path)
            if self.io.get('backend') != backend:
                raise DeployError(f'{path} is a {self.io.get("backend")} file, not {backend}')
            self.input_name = self.io['input']['name']
            self.input_shape = self.io['input']['shape']
            self.output_names = [o['name'] for o in self.io['outputs']]
            spec = self.io.get('postprocess')
            converted = self.io.get('precision', 'fp32')
            if backend == 'ncnn':
                self.net = ncnn_net(path, precision or converted, threads)
            else:
                if precision not in (None, converted):
                    raise DeployError(f'{path} is a {converted} LiteRT file, but precision '
                                      f'{precision} was asked for')
                self.interpreter = litert_interpreter(path, threads)
                self.input_detail = self.interpreter.get_input_details()[0]
                details = {d['name']: d for d in self.interpreter.get_output_details()}
                if not all(o.get('tensor') in details for o in self.io['outputs']):
                    raise DeployError(f'{path}{IO_SUFFIX} does not name the LiteRT tensor of '
                                      'each output (a sidecar of an older version): convert '
                                      'the file again with ghostv2_mm.deploy.mobile')
                self.output_details = [details[o['tensor']] for o in self.io['outputs']]
        elif backend == 'onnxruntime':
            self.session = onnxruntime_session(path, threads)
            inp = self.session.get_inputs()[0]
            self.input_name = inp.name
            self.input_shape = [d if isinstance(d, int) else None for d in inp.shape]
            self.output_names = [o.name for o in self.session.get_outputs()]
            spec = read_spec(self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY))
        else:
            self.compiled, _ = openvino_compile(path, precision, threads, shape)
            inp = self.compiled.inputs[0]
            self.input_name = inp.get_any_name()
            self.input_shape = [d.get_length() if d.is_static else None
                                for d in inp.get_partial_shape()]
            self.output_names = [o.get_any_name() for o in self.compiled.outputs]
            self.request = self.compiled.create_infer_request()
        self.postprocess = spec
        if spec:
            self.output_names = list(POSTPROCESS_OUTPUTS)

    def __call__(self, x):
        """The outputs for the float32 input array ``x``, by output name. OpenVINO's arrays are
        views of the runtime's buffers, valid until the next call (:meth:`run` copies)."""
        outputs = self._forward(x)
        return detections(outputs, self.postprocess) if self.postprocess else outputs

    def _forward(self, x):
        check_input(x, self.input_shape, self.path)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.backend == 'ncnn':
            return self._run_ncnn(x)
        if self.backend == 'litert':
            return self._run_litert(x)
        if self.backend == 'onnxruntime':
            return dict(zip(self.output_names, self.session.run(None, {self.input_name: x})))
        self.request.infer({self.input_name: x})
        return {o.get_any_name(): self.request.get_tensor(o).data for o in self.compiled.outputs}

    def run(self, x):
        """The outputs for ``x`` as a list of arrays of their own, in the model's order."""
        outputs = self(x)
        return [np.array(outputs[name]) for name in self.output_names]

    def _run_ncnn(self, x):
        ncnn = import_ncnn()
        extractor = self.net.create_extractor()
        extractor.input(self.io['input']['blob'], ncnn.Mat(x[0]))  # ncnn has no batch axis
        outputs = {}
        for output in self.io['outputs']:
            status, mat = extractor.extract(output['blob'])
            if status != 0:
                raise RuntimeError(f'ncnn failed to compute {output["name"]} of {self.path}')
            y, shape = np.array(mat), output['shape']
            outputs[output['name']] = y.reshape(shape) if None not in shape and \
                y.size == np.prod(shape) else y[None]
        return outputs

    def _run_litert(self, x):
        if self.io['input'].get('layout') == 'NHWC':
            x = x.transpose(0, 2, 3, 1)
        self.interpreter.set_tensor(self.input_detail['index'],
                                    np.ascontiguousarray(_quantize(x, self.input_detail)))
        self.interpreter.invoke()
        outputs = {}
        for output, detail in zip(self.io['outputs'], self.output_details):
            y = _dequantize(self.interpreter.get_tensor(detail['index']), detail)
            outputs[output['name']] = y.transpose(0, 3, 1, 2) if output.get('layout') == 'NHWC' \
                else y
        return outputs


# One inference of a model in a fresh interpreter, so that a crash in the runtime's kernels ends
# that process and not the caller.
_CHECK_SCRIPT = '''
import sys
import numpy as np
from ghostv2_mm.deploy.runtime import RuntimeModel
path, backend, precision, sample = sys.argv[1:5]
RuntimeModel(path, backend, precision)(np.load(sample))
'''


def check_runs(path, backend, precision, sample, timeout=600):
    """Run ``path`` once on ``sample`` (a (1, 3, H, W) float32 array) in a subprocess: a runtime
    whose kernels crash on a model (docs/quantization.md) kills the process that runs it, which
    here is not the caller.

    Raises:
        RuntimeCrash: the process died of a signal; the message names the file, the signal and
            the CPU's instruction sets.
    """
    with tempfile.TemporaryDirectory(prefix='ghostv2_check_') as tmp:
        np.save(osp.join(tmp, 'sample.npy'), np.asarray(sample, np.float32))
        package_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [package_root] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
        proc = subprocess.run([sys.executable, '-c', _CHECK_SCRIPT, osp.abspath(path), backend,
                               precision, osp.join(tmp, 'sample.npy')], env=env,
                              capture_output=True, text=True, timeout=timeout)
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise RuntimeCrash(
            f'{backend} crashed ({name}) running {path} ({precision}, input '
            f'{"x".join(map(str, np.shape(sample)))}) on this CPU ({cpu_summary()}); '
            'the file is not usable here')
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ['no output'])[-1]
        raise RuntimeError(f'{backend} failed to run {path}: {last}')


def interleaved(fns, x, repeats, warmup, block=5):
    """Median seconds of each callable: ``warmup`` + ``repeats`` rounds, in each of which every
    callable runs ``block`` times in a row (the order of the callables shuffled every round with a
    fixed seed); the first call of a block, which pays for the switch from another model's
    weights and threads, is not counted."""
    times = {name: [] for name in fns}
    order = list(fns)
    rng = random.Random(0)
    for r in range(warmup + repeats):
        rng.shuffle(order)
        for name in order:
            for b in range(block + 1):
                start = time.perf_counter()
                fns[name](x)
                if r >= warmup and b:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def cpu_summary():
    """The CPU model and its AVX-512 VNNI/BF16 and AMX features, as ``/proc/cpuinfo`` names
    them."""
    try:
        with open('/proc/cpuinfo') as f:
            first = f.read().split('\n\n')[0]  # the first core's block
    except OSError:
        first = ''
    info = {key.strip(): value.strip()
            for key, _, value in (line.partition(':') for line in first.splitlines())}
    flags = info.get('flags', '').split()
    wanted = ('avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8', 'amx_bf16')
    return ', '.join([info.get('model name', 'unknown CPU')] + [f for f in wanted if f in flags])
