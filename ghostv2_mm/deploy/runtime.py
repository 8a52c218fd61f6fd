"""Opening and running deployed models in ONNX Runtime and OpenVINO.

Every part of the package that runs a deployed file (PyTorch-free inference, mmdeploy's backend
models, quantisation, the benchmark, the profiler, the parity tool) opens it here, so that
threads, spinning and the inference precision are set in one place. Only numpy and the runtime
itself are imported: this module runs where PyTorch is absent.
"""
import os
import os.path as osp
import signal
import subprocess
import sys
import tempfile

import numpy as np

from ..errors import RuntimeCrash
from ..utils import check_choice

BACKENDS = ('onnxruntime', 'openvino')
# The precisions of each backend: bf16 is OpenVINO's inference precision for a float file; int8
# a quantised file (ghostv2_mm.deploy.quantize).
PRECISIONS = {'onnxruntime': ('fp32', 'int8'), 'openvino': ('fp32', 'bf16', 'int8')}
# OpenVINO's names of the inference precisions. An int8 file runs its float layers in f32:
# they are float because they are sensitive.
OPENVINO_HINTS = {'fp32': 'f32', 'bf16': 'bf16', 'int8': 'f32'}


def check_precision(backend, precision):
    check_choice('backend', backend, BACKENDS)
    if precision not in PRECISIONS[backend]:
        raise ValueError(f'precision {precision!r} is not available for {backend} (choose from '
                         f'{", ".join(PRECISIONS[backend])}; bf16 is an OpenVINO inference '
                         'precision)')


def onnxruntime_session(model, threads=None, profile_prefix=None):
    """An ONNX Runtime CPU session of ``model`` (a path or serialised bytes) with ``threads``
    intra-op threads (all cores when None) and spinning off: spinning worker threads slow down
    whatever else the process runs (PyTorch, another session) and inflate latencies measured
    side by side. ``profile_prefix`` turns ONNX Runtime's profiler on."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(model, options, providers=['CPUExecutionProvider'])


def openvino_compile(model, precision='fp32', threads=None, shape=None, perf_count=False):
    """``model`` (a path to an IR or ONNX file, or an ``openvino.Model``) compiled for the CPU.

    Args:
        precision (str): 'fp32', 'bf16' or 'int8' (:data:`OPENVINO_HINTS`); always given,
            since OpenVINO defaults to bf16 on CPUs that have it.
        threads (int, optional): Inference threads (all cores when None).
        shape (tuple[int, ...], optional): Reshape the input to this static shape first.
        perf_count (bool): Collect per-layer times (``PERF_COUNT``).
    """
    import openvino as ov
    check_choice('precision', precision, OPENVINO_HINTS)
    core = ov.Core()
    if isinstance(model, str):
        if not osp.isfile(model):
            raise FileNotFoundError(f'OpenVINO model {model} does not exist')
        model = core.read_model(model)
    if shape is not None:
        model.reshape({model.inputs[0].get_any_name(): list(shape)})
    config = {'INFERENCE_PRECISION_HINT': OPENVINO_HINTS[precision]}
    if threads:
        config['INFERENCE_NUM_THREADS'] = int(threads)
    if perf_count:
        config['PERF_COUNT'] = True
    return core.compile_model(model, 'CPU', config)


def runner(path, backend, precision='fp32', threads=None, shape=None):
    """A function from one (1, 3, H, W) float32 array to the model's list of outputs."""
    check_precision(backend, precision)
    if backend == 'onnxruntime':
        session = onnxruntime_session(path, threads)
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})
    compiled = openvino_compile(path, precision, threads, shape)
    return lambda x: [compiled(x)[o] for o in compiled.outputs]


# One inference of a model in a fresh interpreter, so that a crash in the runtime's kernels ends
# that process and not the caller.
_CHECK_SCRIPT = '''
import sys
import numpy as np
from ghostv2_mm.deploy.runtime import runner
path, backend, precision, sample = sys.argv[1:5]
runner(path, backend, precision)(np.load(sample))
'''


def check_runs(path, backend, precision, sample, timeout=600):
    """Run ``path`` once on ``sample`` (a (1, 3, H, W) float32 array) in a subprocess.

    A runtime whose kernels crash on a model (OpenVINO's AMX int8 kernels did on GhostNetV2 at
    small feature maps, docs/quantization.md) kills the process that runs it; this finds that
    out without losing the caller. Raises :class:`RuntimeCrash` naming the file, the signal and
    the CPU's instruction sets when the process dies.
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
            f'{"x".join(map(str, np.shape(sample)))}) on this CPU ({cpu_flags_summary()}); '
            'the file is not usable here')
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ['no output'])[-1]
        raise RuntimeError(f'{backend} failed to run {path}: {last}')


def cpu_flags_summary():
    """The CPU model and its AVX-512/AMX features, as ``/proc/cpuinfo`` names them."""
    model, flags = 'unknown CPU', set()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == 'model name':
                    model = value.strip()
                elif key.strip() == 'flags':
                    flags = set(value.split())
                    break
    except OSError:
        pass
    wanted = ('avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_int8', 'amx_bf16')
    return ', '.join([model] + [f for f in wanted if f in flags])
