"""Static ONNX files converted for ncnn (by pnnx) and LiteRT (by onnx2tf, in the converter
environment of ``tools/setup_env.sh``), each with a sidecar ``<file>.io.json``
(:data:`.runtime.IO_SUFFIX`) from which :class:`.runtime.RuntimeModel` returns what ONNX Runtime
returns. Neither converter may reach the network. docs/mobile.md is the manual.
"""
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import tempfile

import numpy as np

from ..errors import DeployError
from ..utils import cache_dir, check_choice
from .postprocess import METADATA_KEY, read_spec
from .runtime import INSTALL_MOBILE, IO_SUFFIX, SETUP, NotInstalled

# onnx2tf's file of each precision (``-oiqt`` writes the quantised ones).
LITERT_FILES = {'fp32': 'float32', 'fp16': 'float16', 'int8': 'full_integer_quant'}
# int8 ops, float input and outputs: for outputs that are not activations int8 I/O may quantise
# (labels, or boxes and scores that the post-processing reads).
LITERT_INT8_FLOAT_IO = 'integer_quant'
# onnx2tf downloads the sample images it checks its conversion on unless this file is in its cwd.
ONNX2TF_SAMPLE = 'calibration_image_sample_data_20x128x128x3_float32.npy'
# A proxy nothing listens on: a download the converter attempts fails at once.
NO_NETWORK = {name: 'http://127.0.0.1:9' for name in
              ('HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy')}


def pnnx_binary():
    """The pnnx executable of the ``pnnx`` wheel (``GHOSTV2_MM_PNNX`` overrides), found without
    importing the package (which imports torch)."""
    path = os.environ.get('GHOSTV2_MM_PNNX')
    if path is None:
        spec = importlib.util.find_spec('pnnx')
        path = osp.join(osp.dirname(spec.origin), 'pnnx') if spec and spec.origin else None
    if not path or not os.access(path, os.X_OK):
        raise NotInstalled(
            f'the ONNX -> ncnn converter pnnx is not installed{f" ({path})" if path else ""}: '
            f'{INSTALL_MOBILE}')
    return path


def onnx2tf_binary():
    """onnx2tf of the LiteRT converter environment (``GHOSTV2_MM_ONNX2TF`` overrides)."""
    path = os.environ.get('GHOSTV2_MM_ONNX2TF',
                          osp.join(cache_dir(), 'litert-converter', 'bin', 'onnx2tf'))
    if not os.access(path, os.X_OK):
        raise NotInstalled(
            f'the ONNX -> LiteRT converter onnx2tf is not installed ({path}): run {SETUP}, which '
            'creates its environment under the cache directory (unless '
            'GHOSTV2_MM_LITERT_CONVERTER=0)')
    return path


# The Python module of each runtime (requirements/mobile.txt).
RUNTIME_MODULES = {'ncnn': 'ncnn', 'litert': 'ai_edge_litert'}


def check_installed(backend):
    """Raise :class:`.runtime.NotInstalled` unless ``backend``'s converter and runtime are
    installed."""
    check_choice('backend', backend, RUNTIME_MODULES)
    (pnnx_binary if backend == 'ncnn' else onnx2tf_binary)()
    if importlib.util.find_spec(RUNTIME_MODULES[backend]) is None:
        raise NotInstalled(f'the {backend} runtime ({RUNTIME_MODULES[backend]}) is not '
                           f'installed: {INSTALL_MOBILE}')


def fill_empty_resize_inputs(model):
    """Give the empty roi and scales inputs of every ``Resize`` of ``model`` (changed in place)
    an empty initializer, which means the same: pnnx writes them with an input count of -1,
    which ncnn refuses. Returns how many inputs changed."""
    from onnx import TensorProto, helper
    names = {1: 'resize_empty_roi', 2: 'resize_empty_scales'}
    initializers = {i.name for i in model.graph.initializer}
    changed = 0
    for node in model.graph.node:
        for index, name in names.items():
            if node.op_type == 'Resize' and index < len(node.input) and node.input[index] == '':
                node.input[index] = name
                changed += 1
                if name not in initializers:
                    model.graph.initializer.append(
                        helper.make_tensor(name, TensorProto.FLOAT, [0], []))
                    initializers.add(name)
    return changed


def static_io(model, onnx_file):
    """The single static input and the outputs of ``model`` as ``{'name', 'shape', 'dtype'}``
    dicts (None for a dim that is not fixed)."""
    from onnx.helper import tensor_dtype_to_np_dtype

    def io(value):
        tensor = value.type.tensor_type
        return dict(name=value.name, shape=[d.dim_value if d.HasField('dim_value') else None
                                            for d in tensor.shape.dim],
                    dtype=str(tensor_dtype_to_np_dtype(tensor.elem_type)))
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise DeployError(f'{onnx_file} has {len(inputs)} inputs; the mobile runtimes take '
                          'models of one image input')
    inp = io(inputs[0])
    if None in inp['shape'] or 0 in inp['shape']:
        raise DeployError(f'{onnx_file} has the dynamic input shape {inp["shape"]}; ncnn and '
                          'LiteRT fix every size at conversion: export with --static (a static '
                          'deploy config)')
    return inp, [io(o) for o in model.graph.output]


def _prepare(onnx_file, tmp, fix_resize=False):
    """Check ``onnx_file`` and copy it to ``tmp`` (the converters write beside their input, and
    onnx2tf's onnxsim overwrites it). Returns the copy's path, the input, the outputs, the op
    types and the post-processing left to the runtime (:mod:`.postprocess`; None if none)."""
    import onnx
    if not osp.isfile(onnx_file):
        raise DeployError(f'ONNX file {onnx_file} does not exist')
    model = onnx.load(onnx_file)
    inp, outputs = static_io(model, onnx_file)
    if fix_resize:
        fill_empty_resize_inputs(model)
    path = osp.join(tmp, 'model.onnx')
    onnx.save(model, path)
    props = {p.key: p.value for p in model.metadata_props}
    return path, inp, outputs, {node.op_type for node in model.graph.node}, \
        read_spec(props.get(METADATA_KEY))


def _run(cmd, cwd, what, timeout, env=None):
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        raise DeployError(f'{what} failed (exit status {proc.returncode}): '
                          f'{lines[-1].strip() if lines else "no output"}')


def _write_io(path, backend, precision, inp, outputs, postprocess):
    with open(path + IO_SUFFIX, 'w') as f:
        json.dump(dict(backend=backend, precision=precision, input=inp, outputs=outputs,
                       postprocess=postprocess), f, indent=2)


def convert_to_ncnn(onnx_file, param_file, fp16=False, timeout=600):
    """Convert the static ``onnx_file`` with pnnx into ncnn's ``param_file`` and its ``.bin``
    (fp16 weights when ``fp16``); returns ``param_file``."""
    if not param_file.endswith('.param'):
        raise DeployError(f'param_file must end with .param, but received {param_file!r}')
    binary = pnnx_binary()
    out_dir = osp.dirname(osp.abspath(param_file))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='ghostv2_ncnn_', dir=out_dir) as tmp:
        source, inp, outputs, _, postprocess = _prepare(onnx_file, tmp, fix_resize=True)
        shape = ','.join(map(str, inp['shape']))
        files = {key: osp.join(tmp, name) for key, name in dict(
            pnnxparam='model.pnnx.param', pnnxbin='model.pnnx.bin', pnnxpy='model_pnnx.py',
            pnnxonnx='model.pnnx.onnx', ncnnparam='model.ncnn.param', ncnnbin='model.ncnn.bin',
            ncnnpy='model_ncnn.py').items()}
        _run([binary, source, f'inputshape=[{shape}]f32', f'fp16={int(bool(fp16))}',
              *(f'{key}={path}' for key, path in files.items())],
             tmp, f'pnnx on {onnx_file}', timeout)
        with open(files['ncnnparam']) as f:
            # Layer type, name, counts, blobs, options; pnnx keeps what has no ncnn layer under
            # its own dotted names (torch.gt, pnnx.Expression), which ncnn refuses to load.
            unmapped = sorted({line.split()[0] for line in f.readlines()[2:]
                               if '.' in line.split()[0]})
        if unmapped:
            raise DeployError(f'ncnn has no layers for {len(unmapped)} op kinds of {onnx_file} '
                              f'({", ".join(unmapped)}); end the graph before them')
        # pnnx names the blobs in0 and out0, out1, ... in the ONNX file's order.
        inp['blob'] = 'in0'
        for i, output in enumerate(outputs):
            output['blob'] = f'out{i}'
        shutil.move(files['ncnnparam'], param_file)
        shutil.move(files['ncnnbin'], osp.splitext(param_file)[0] + '.bin')
    _write_io(param_file, 'ncnn', 'fp16' if fp16 else 'fp32', inp, outputs, postprocess)
    return param_file


def convert_to_litert(onnx_file, tflite_file, precision='fp32', calib_inputs=None,
                      timeout=1800, extra_args=()):
    """Convert the static ``onnx_file`` with onnx2tf into the LiteRT file ``tflite_file``
    (channels-last: the sidecar records the layouts); returns ``tflite_file``.

    Args:
        precision (str): ``'fp32'``, ``'fp16'`` (fp16 weights, fp32 arithmetic) or ``'int8'``
            (int8 I/O unless :data:`LITERT_INT8_FLOAT_IO` applies).
        calib_inputs (Iterable[np.ndarray], optional): (N, 3, H, W) float32 inputs; int8 only.
        extra_args (Sequence[str]): More onnx2tf arguments.
    """
    check_choice('precision', precision, LITERT_FILES)
    if (precision == 'int8') != (calib_inputs is not None):
        raise DeployError('calib_inputs are needed for int8, and only for int8 (precision '
                          f'{precision})')
    if not tflite_file.endswith('.tflite'):
        raise DeployError(f'tflite_file must end with .tflite, but received {tflite_file!r}')
    binary = onnx2tf_binary()
    out_dir = osp.dirname(osp.abspath(tflite_file))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='ghostv2_litert_', dir=out_dir) as tmp:
        source, inp, outputs, ops, postprocess = _prepare(onnx_file, tmp)
        if 'NonMaxSuppression' in ops:
            # Otherwise onnx2tf fixes the number of boxes NMS keeps to the count it saw once.
            extra_args = ('-onwdt', *extra_args)
        # The images onnx2tf checks its conversion on: uniform noise of its own file's shape.
        np.save(osp.join(tmp, ONNX2TF_SAMPLE),
                np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32))
        cmd = [binary, '-i', source, '-o', 'out', '-osd', '-v', 'error', *extra_args]
        if precision == 'int8':
            from .quantize.calibration import samples
            calib = [x.transpose(0, 2, 3, 1) for x in samples(calib_inputs)]
            if not calib:
                raise DeployError('calib_inputs is empty')
            np.save(osp.join(tmp, 'calib.npy'), np.concatenate(calib))
            channels = inp['shape'][1]
            # The inputs are pre-processed already: onnx2tf's normalisation is the identity.
            cmd += ['-oiqt', '-cind', inp['name'], 'calib.npy', str([[[[0.] * channels]]]),
                    str([[[[1.] * channels]]])]
        # onnx2tf skips onnxsim silently unless it is on the PATH: the environment's bin leads.
        env = dict(os.environ, **NO_NETWORK, NO_PROXY='', no_proxy='', CUDA_VISIBLE_DEVICES='',
                   TF_CPP_MIN_LOG_LEVEL='2', KERAS_HOME=tmp,
                   PATH=os.pathsep.join([osp.dirname(binary), os.environ.get('PATH', '')]))
        _run(cmd, tmp, f'onnx2tf on {onnx_file}', timeout, env)
        kind = LITERT_FILES[precision]
        if precision == 'int8' and (postprocess or any(np.dtype(o['dtype']).kind != 'f'
                                                       for o in outputs)):
            kind = LITERT_INT8_FLOAT_IO
        written = osp.join(tmp, 'out', f'model_{kind}.tflite')
        if not osp.isfile(written):
            raise DeployError(f'onnx2tf on {onnx_file} wrote no {osp.basename(written)}')
        shutil.move(written, tflite_file)
    inp['layout'] = 'NHWC' if len(inp['shape']) == 4 else 'NCHW'
    _litert_layouts(tflite_file, outputs)
    _write_io(tflite_file, 'litert', precision, inp, outputs, postprocess)
    return tflite_file


def _litert_layouts(tflite_file, outputs):
    """Record in ``outputs`` the LiteRT tensor of each (``'tensor'``) and whether it is
    channels-last (``'layout'``). A file's output order may differ from the ONNX file's; its
    signature, where onnx2tf writes one, keeps that order."""
    from .runtime import litert_interpreter
    interpreter = litert_interpreter(tflite_file, 1)
    details = interpreter.get_output_details()
    if interpreter.get_signature_list() and len(outputs) > 1:
        # By the ONNX file's names, or output_0, output_1, ...
        by_key = interpreter.get_signature_runner().get_output_details()
        keys = [o['name'] for o in outputs]
        if not set(keys) <= set(by_key):
            keys = [f'output_{i}' for i in range(len(outputs))]
        if set(keys) <= set(by_key):
            details = [by_key[key] for key in keys]
    if len(details) != len(outputs):
        raise DeployError(f'{tflite_file} has {len(details)} outputs, the ONNX file '
                          f'{len(outputs)}')
    for output, detail in zip(outputs, details):
        have, want = list(detail['shape']), output['shape']
        output['tensor'] = detail['name']
        channels_last = len(want) == 4 and [want[i] for i in (0, 2, 3, 1)]
        if channels_last and all(w is None or h == w for h, w in zip(have, channels_last)):
            output['layout'] = 'NHWC'
        elif len(have) == len(want) and all(w is None or h == w for h, w in zip(have, want)):
            output['layout'] = 'NCHW' if len(want) == 4 else None
        else:
            raise DeployError(f'{tflite_file}: output {output["name"]} has the shape {have}, the '
                              f'ONNX file {want}')
