"""Opening and running deployed files in ONNX Runtime, OpenVINO, ncnn and LiteRT, so that threads,
spinning, the inference precision and static shapes are set in one place. Imports only numpy and
the runtime: it runs where PyTorch is absent. docs/deployment.md and docs/mobile.md (the ncnn and
LiteRT sidecars, :data:`IO_SUFFIX`) describe it.
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
# bf16: OpenVINO's inference precision for a float file; int8: a quantised file; fp16: ncnn's
# storage and arithmetic or a LiteRT file of fp16 weights.
PRECISIONS = {'onnxruntime': ('fp32', 'int8'), 'openvino': ('fp32', 'bf16', 'int8'),
              'ncnn': ('fp32', 'fp16'), 'litert': ('fp32', 'fp16', 'int8')}
SUFFIXES = {'onnxruntime': '.onnx', 'openvino': '.xml', 'ncnn': '.param', 'litert': '.tflite'}
# The sidecar of an ncnn or LiteRT file: its input and outputs as the ONNX file had them.
IO_SUFFIX = '.io.json'
SETUP = 'tools/setup_env.sh'
INSTALL_MOBILE = f'run {SETUP}, which installs requirements/mobile.txt into .venv'
# OpenVINO's inference precisions: an int8 file's float layers stay f32 (they are sensitive).
# OpenVINO would run float layers in bf16 on CPUs with AVX512-BF16 or AMX: the hint is always set.
OPENVINO_HINTS = {'fp32': 'f32', 'bf16': 'bf16', 'int8': 'f32'}
# Where an IR records the precision it was deployed for (RuntimeModel's default).
PRECISION_KEY = ['runtime_options', 'INFERENCE_PRECISION_HINT']


def check_precision(backend, precision, argument='precision', backend_argument='backend'):
    """Raise ``DeployError`` naming ``backend_argument`` or ``argument`` unless ``backend`` is
    known and has ``precision``."""
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
    any size) of the model file ``path``."""
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


def read_json(path, hint=''):
    """The JSON document in ``path``; ``DeployError`` naming the file (then ``hint``) if it is
    missing or not JSON."""
    if not osp.isfile(path):
        raise DeployError(f'{path} does not exist{hint}')
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        raise DeployError(f'{path} is damaged: not JSON ({e}){hint}') from None


def cpu_count():
    return len(os.sched_getaffinity(0))


@functools.cache
def import_ncnn():
    """The ``ncnn`` module; its OpenMP threads keep libgomp's default wait policy (PASSIVE made
    GhostNetV2 5.4x slower, docs/performance.md)."""
    try:
        import ncnn
    except ImportError:
        raise NotInstalled(f'the ncnn runtime is not installed: {INSTALL_MOBILE}') from None
    return ncnn


def ncnn_net(param_file, precision='fp32', threads=None):
    """The ``ncnn.Net`` of ``param_file`` and its ``.bin`` on the CPU. fp32 turns off the fp16
    storage and arithmetic ncnn uses by default, so that the file computes what ONNX Runtime
    does."""
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
    """A LiteRT interpreter of ``path`` (XNNPACK on the CPU), its tensors allocated."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise NotInstalled('the LiteRT runtime (ai-edge-litert) is not installed: '
                           f'{INSTALL_MOBILE}') from None
    try:
        interpreter = Interpreter(model_path=path, num_threads=int(threads or cpu_count()))
    except ValueError as e:
        raise DeployError(f'LiteRT cannot load {path}: {str(e).splitlines()[0]}') from None
    interpreter.allocate_tensors()
    return interpreter


def onnxruntime_session(model, threads=None, profile_prefix=None):
    """An ONNX Runtime CPU session of ``model`` (a path or bytes) whose threads do not spin
    while idle: spinning slows down whatever else the process runs and the latencies measured
    beside it. ``profile_prefix`` turns ONNX Runtime's profiler on."""
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
    """One ``openvino.Core`` per process: each Core's thread pools would compete for the
    cores."""
    import openvino as ov
    return ov.Core()


def openvino_compile(model, precision=None, threads=None, shape=None, perf_count=False):
    """``model`` (an IR or ONNX path, or an ``openvino.Model``) compiled for the CPU's latency
    in ``precision`` (None: the IR's, else fp32); ``shape``: a static input shape to reshape to
    first (folds a dynamic file's shape arithmetic); ``perf_count``: per-layer times."""
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
    return core.compile_model(model, 'CPU', config)


def convert_to_openvino(onnx_file, xml_file, precision='fp32'):
    """Convert ``onnx_file`` into the IR ``xml_file`` (fp32 weights) recording ``precision``
    (``'fp32'`` or ``'bf16'``); returns ``xml_file``."""
    import openvino as ov
    check_choice('precision', precision, ('fp32', 'bf16'))
    model = ov.convert_model(onnx_file)
    model.set_rt_info(OPENVINO_HINTS[precision], PRECISION_KEY)
    ov.save_model(model, xml_file, compress_to_fp16=False)
    return xml_file


class RuntimeModel:
    """A deployed file opened in its runtime.

    Args:
        path (str): ``.onnx``, ``.xml`` (OpenVINO), ``.param`` (its ``.bin`` beside it) or
            ``.tflite``; ncnn and LiteRT files with their sidecar (:data:`IO_SUFFIX`).
        backend (str): One of :data:`BACKENDS`.
        precision (str, optional): One of the backend's :data:`PRECISIONS`; None: the precision
            the file was deployed for. A LiteRT file has only that one.
        threads (int, optional): Runtime threads; all cores when None.
        shape (Sequence[int], optional): OpenVINO: compile for this static input shape.

    A graph that ends before the post-processing returns the end-to-end graph's ``dets`` and
    ``labels`` (:mod:`.postprocess`).

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
            self.io = read_json(path + IO_SUFFIX, ': ncnn and LiteRT files are converted by '
                                'ghostv2_mm.deploy.mobile, which writes it beside the file')
            if self.io.get('backend') != backend:
                raise DeployError(f'{path} is a {self.io.get("backend")} file, not {backend}')
            try:
                self.input_name = self.io['input']['name']
                self.input_shape = self.io['input']['shape']
                self.output_names = [o['name'] for o in self.io['outputs']]
            except (KeyError, TypeError) as e:
                raise DeployError(f'{path}{IO_SUFFIX} is not as ghostv2_mm.deploy.mobile writes it '
                                  f'({type(e).__name__}: {e}): convert the file again') from None
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
            # The graph's own names: a file that records its post-processing is called with
            # them, and output_names become dets/labels below.
            self.graph_outputs = [o.name for o in self.session.get_outputs()]
            self.output_names = list(self.graph_outputs)
            spec = read_spec(self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY))
        else:
            self.compiled = openvino_compile(path, precision, threads, shape)
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
        """The outputs for the input array ``x``, by output name. OpenVINO's arrays are views of
        the runtime's buffers, valid until the next call (:meth:`run` copies)."""
        check_input(x, self.input_shape, self.path)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.backend == 'ncnn':
            outputs = self._run_ncnn(x)
        elif self.backend == 'litert':
            outputs = self._run_litert(x)
        elif self.backend == 'onnxruntime':
            outputs = dict(zip(self.graph_outputs,
                               self.session.run(None, {self.input_name: x})))
        else:
            self.request.infer({self.input_name: x})
            outputs = {o.get_any_name(): self.request.get_tensor(o).data
                       for o in self.compiled.outputs}
        return detections(outputs, self.postprocess) if self.postprocess else outputs

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
        detail = self.input_detail
        if np.issubdtype(detail['dtype'], np.integer):  # an int8 input: its scale and zero point
            scale, zero = detail['quantization']
            info = np.iinfo(detail['dtype'])
            x = np.clip(np.round(x / scale) + zero, info.min, info.max)
        self.interpreter.set_tensor(detail['index'],
                                    np.ascontiguousarray(x.astype(detail['dtype'], copy=False)))
        self.interpreter.invoke()
        outputs = {}
        for output, detail in zip(self.io['outputs'], self.output_details):
            y = self.interpreter.get_tensor(detail['index'])
            if np.issubdtype(detail['dtype'], np.integer) and detail['quantization'][0]:
                scale, zero = detail['quantization']
                y = (y.astype(np.float32) - zero) * np.float32(scale)
            outputs[output['name']] = y.transpose(0, 3, 1, 2) if output.get('layout') == 'NHWC' \
                else y
        return outputs


# One inference in a fresh interpreter: a crash in the runtime's kernels ends that process only.
_CHECK_SCRIPT = '''
import sys
import numpy as np
from ghostv2_mm.deploy.runtime import RuntimeModel
path, backend, precision, sample = sys.argv[1:5]
RuntimeModel(path, backend, precision)(np.load(sample))
'''


def check_runs(path, backend, precision, sample, timeout=600):
    """Run ``path`` once on ``sample`` (a (1, 3, H, W) array) in a subprocess, since a runtime
    whose kernels crash on a model (docs/quantization.md) kills its process. Raises
    ``RuntimeCrash`` (naming the file, the signal and the CPU's instruction sets) on a signal."""
    with tempfile.TemporaryDirectory(prefix='ghostv2_check_') as tmp:
        np.save(osp.join(tmp, 'sample.npy'), np.asarray(sample, np.float32))
        package_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [package_root, os.environ.get('PYTHONPATH')])))
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
    """Median seconds of each callable over ``repeats`` rounds (after ``warmup``), in each of
    which every callable, in a shuffled order, runs ``block`` times in a row after one uncounted
    call that pays for the switch from another model's weights and threads."""
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


def cpu_info():
    """The first core's block of ``/proc/cpuinfo`` as a dict (empty where it cannot be read)."""
    try:
        with open('/proc/cpuinfo') as f:
            first = f.read().split('\n\n')[0]
    except OSError:
        first = ''
    return {key.strip(): value.strip()
            for key, _, value in (line.partition(':') for line in first.splitlines())}


def has_vnni():
    """Whether the CPU has VNNI (AVX-512 or AVX): ONNX Runtime's u8 x s8 int8 kernels without it
    add the products in pairs in 16 bits, which saturates with 8-bit weights."""
    return bool({'avx512_vnni', 'avx_vnni'} & set(cpu_info().get('flags', '').split()))


def cpu_summary():
    """The CPU model and its AVX-512 VNNI/BF16 and AMX flags (``/proc/cpuinfo``)."""
    info = cpu_info()
    flags = info.get('flags', '').split()
    wanted = ('avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8', 'amx_bf16')
    return ', '.join([info.get('model name', 'unknown CPU')] + [f for f in wanted if f in flags])
