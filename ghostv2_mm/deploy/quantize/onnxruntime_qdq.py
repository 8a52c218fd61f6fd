"""int8 with ONNX Runtime's post-training quantisation (``quantize_static``, QDQ format)."""
import os.path as osp
from types import SimpleNamespace


def prepare(onnx_file, out):
    """ONNX Runtime's quantisation pre-processing (shape inference, constant folding) of
    ``onnx_file`` into ``out``: it finds the convs' biases behind the exporter's ``Identity``
    nodes, which the quantiser would leave in float. Per-channel ``DequantizeLinear`` (its axis)
    needs opset 13; mmdeploy exports opset 11, which is converted first."""
    import onnx
    from onnxruntime.quantization import quant_pre_process
    model = onnx.load(onnx_file)
    opset = next(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))
    if opset < 13:
        model = onnx.version_converter.convert_version(model, 13)
    quant_pre_process(model, out)
    return out


def quantize_qdq(onnx_file, input_name, calib, excluded, work_dir):
    """``end2end_int8.onnx`` in ``work_dir``: uint8 activations and per-channel int8 weights
    (ONNX Runtime's x86 scheme: VNNI instructions take u8 x s8; per-channel scales for the
    depthwise convs, whose channels' ranges differ by orders of magnitude), MinMax ranges of
    ``calib``, the ``excluded`` nodes in float."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    # A calibration data reader is anything whose get_next() gives inputs until it gives None.
    items = iter([{input_name: x} for x in calib])
    reader = SimpleNamespace(get_next=lambda: next(items, None))
    out = osp.join(work_dir, 'end2end_int8.onnx')
    quantize_static(onnx_file, out, reader, quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=excluded,
                    calibrate_method=CalibrationMethod.MinMax)
    return out
