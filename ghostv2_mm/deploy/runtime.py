"""Opening and running deployed models in ONNX Runtime and OpenVINO: every part of the package
that runs a deployed file opens it here, so that threads, spinning, the inference precision and
static shapes are set in one place. Only numpy and the runtime itself are imported: this module
runs where PyTorch is absent.

OpenVINO runs float layers in bf16 by default on CPUs with AVX512-BF16 or AMX, so the precision
is always given. An IR written for a deployment records the precision it was deployed for
(:data:`PRECISION_KEY` in its runtime info, :func:`convert_to_openvino`), which
:class:`RuntimeModel` uses when no precision is asked for.
"""
import functools
import os
import os.path as osp
import signal
import subprocess
import sys
import tempfile

import numpy as np

from ..errors import DeployError, RuntimeCrash
from ..utils import check_choice

BACKENDS = ('onnxruntime', 'openvino')
# The precisions of each backend: bf16 is OpenVINO's inference precision for a float file, int8
# a quantised file (ghostv2_mm.deploy.quantize).
PRECISIONS = {'onnxruntime': ('fp32', 'int8'), 'openvino': ('fp32', 'bf16', 'int8')}
SUFFIXES = {'onnxruntime': '.onnx', 'openvino': '.xml'}
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
        path (str): ``.onnx`` for ONNX Runtime; ``.xml`` (or ``.onnx``) for OpenVINO.
        backend (str): One of :data:`BACKENDS`.
        precision (str, optional): One of the backend's :data:`PRECISIONS`; for OpenVINO it
            sets the inference precision (None: what the IR records).
        threads (int, optional): Runtime threads; all cores when None.
        shape (Sequence[int], optional): OpenVINO: compile for this static input shape.

    Attributes:
        input_name (str), input_shape (list[int | None]), output_names (list[str]).
    """

    def __init__(self, path, backend, precision=None, threads=None, shape=None):
        check_precision(backend, precision or 'fp32')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{backend} model {path} does not exist')
        self.backend = backend
        if backend == 'onnxruntime':
            self.session = onnxruntime_session(path, threads)
            inp = self.session.get_inputs()[0]
            self.input_name = inp.name
            self.input_shape = [d if isinstance(d, int) else None for d in inp.shape]
            self.output_names = [o.name for o in self.session.get_outputs()]
        else:
            self.compiled, _ = openvino_compile(path, precision, threads, shape)
            inp = self.compiled.inputs[0]
            self.input_name = inp.get_any_name()
            self.input_shape = [d.get_length() if d.is_static else None
                                for d in inp.get_partial_shape()]
            self.output_names = [o.get_any_name() for o in self.compiled.outputs]
            self.request = self.compiled.create_infer_request()

    def __call__(self, x):
        """The outputs for the float32 input array ``x``, by output name. OpenVINO's arrays are
        views of the runtime's buffers, valid until the next call (:meth:`run` copies)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.backend == 'onnxruntime':
            return dict(zip(self.output_names, self.session.run(None, {self.input_name: x})))
        self.request.infer({self.input_name: x})
        return {o.get_any_name(): self.request.get_tensor(o).data for o in self.compiled.outputs}

    def run(self, x):
        """The outputs for ``x`` as a list of arrays of their own, in the model's order."""
        outputs = self(x)
        return [np.array(outputs[name]) for name in self.output_names]


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
