"""OpenVINO through OpenVINO's own API (``openvino.Core``,
``openvino.convert_model``).

mmdeploy 1.3.1's OpenVINO backend imports ``openvino.inference_engine`` (removed from OpenVINO in
2024) and converts with the Model Optimizer. OpenVINO reads mmdeploy's end-to-end ONNX directly
(its ``NonMaxSuppression`` included), so this backend converts that file into an IR
(``end2end.xml``/``.bin``) and runs it. This module needs only OpenVINO (no PyTorch, no
mmdeploy): :mod:`.backends` plugs it into mmdeploy.

The inference precision is part of the deployment: OpenVINO runs f32 layers in bf16 by default
on CPUs with AVX512-BF16. The IR records the precision it was deployed for
(:data:`PRECISION_KEY` in its runtime info) and :func:`compile_model` passes it to OpenVINO as
``INFERENCE_PRECISION_HINT``.
"""
import os.path as osp

PRECISIONS = {'fp32': 'f32', 'bf16': 'bf16'}
# Where the IR keeps its inference precision (OpenVINO's section for runtime options).
PRECISION_KEY = ['runtime_options', 'INFERENCE_PRECISION_HINT']


def convert(onnx_file, xml_file, precision='fp32'):
    """Convert ``onnx_file`` into the OpenVINO IR ``xml_file`` (and its ``.bin``), weights kept
    in fp32, recording ``precision`` (``'fp32'`` or ``'bf16'``) as its inference precision.

    Returns:
        str: ``xml_file``.
    """
    import openvino as ov
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {sorted(PRECISIONS)} for OpenVINO, but '
                         f'received {precision!r}')
    model = ov.convert_model(onnx_file)
    model.set_rt_info(PRECISIONS[precision], PRECISION_KEY)
    ov.save_model(model, xml_file, compress_to_fp16=False)
    return xml_file


def compile_model(xml_file, threads=None):
    """Compile the IR ``xml_file`` for the CPU at the inference precision it records (f32 when
    it records none) with ``threads`` inference threads (all cores when None).

    Returns:
        tuple[openvino.CompiledModel, str]: The compiled model and its precision (``'f32'`` or
        ``'bf16'``).
    """
    import openvino as ov
    if not osp.isfile(xml_file):
        raise FileNotFoundError(f'OpenVINO model {xml_file} does not exist')
    if not xml_file.endswith('.xml'):
        raise ValueError(f'the OpenVINO backend takes an IR (.xml with its .bin), but received '
                         f'{xml_file}')
    core = ov.Core()
    model = core.read_model(xml_file)
    hint = model.get_rt_info(PRECISION_KEY).astype(str) if model.has_rt_info(PRECISION_KEY) \
        else 'f32'
    config = {'INFERENCE_PRECISION_HINT': hint}
    if threads:
        config['INFERENCE_NUM_THREADS'] = int(threads)
    return core.compile_model(model, 'CPU', config), hint
