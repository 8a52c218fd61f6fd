"""int8 with ONNX Runtime's post-training quantisation (``quantize_static``, QDQ format)."""
import os
import os.path as osp
from types import SimpleNamespace


def prepare(onnx_file, out):
    """ONNX Runtime's quantisation pre-processing of ``onnx_file`` into ``out``: it finds the
    convs' biases behind the exporter's ``Identity`` nodes, which the quantiser would leave in
    float. mmdeploy's opset 11 is converted to 13 first (per-channel ``DequantizeLinear``)."""
    import onnx
    from onnxruntime.quantization import quant_pre_process
    model = onnx.load(onnx_file)
    opset = next(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))
    if opset < 13:
        model = onnx.version_converter.convert_version(model, 13)
    quant_pre_process(model, out)
    return out


def split_postprocess(model, postprocess, work_dir):
    """The part of ``model`` before its ``postprocess`` nodes, saved in ``work_dir``, and those
    nodes. ONNX Runtime's calibrator reduces every tensor, and fails on the empty ones after an
    NMS that detects nothing (a random-weights detector)."""
    import onnx
    post = set(postprocess)
    inputs = [i.name for i in model.graph.input]
    network_tensors = set(inputs) | {o for n in model.graph.node if n.name not in post
                                     for o in n.output}
    # The network's tensors the post-processing reads, then its outputs, each once.
    boundary = [t for n in model.graph.node if n.name in post for t in n.input
                if t in network_tensors and t not in inputs]
    boundary = list(dict.fromkeys(boundary + [o.name for o in model.graph.output
                                              if o.name in network_tensors]))
    network = onnx.utils.Extractor(model).extract_model(inputs, boundary)
    network.metadata_props.extend(model.metadata_props)  # prepare()'s record that it ran
    path = osp.join(work_dir, 'end2end_network.onnx')
    onnx.save(network, path)
    return path, [n for n in model.graph.node if n.name in post]


def quantize_qdq(onnx_file, input_name, calib, excluded, work_dir, postprocess=(),
                 reduce_range=False):
    """``end2end_int8.onnx`` in ``work_dir``: uint8 activations and per-channel int8 weights
    (VNNI takes u8 x s8; the depthwise convs' channels' ranges differ by orders of magnitude),
    7-bit with ``reduce_range`` (ONNX Runtime's advice for CPUs without VNNI), MinMax ranges of
    ``calib``, the ``excluded`` and ``postprocess`` nodes in float (the latter split off for
    calibration, :func:`split_postprocess`)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = onnx.load(onnx_file)
    source, tail = onnx_file, []
    if postprocess:
        source, tail = split_postprocess(model, postprocess, work_dir)
    # A calibration data reader is anything whose get_next() gives inputs until it gives None.
    items = iter([{input_name: x} for x in calib])
    reader = SimpleNamespace(get_next=lambda: next(items, None))
    out = osp.join(work_dir, 'end2end_int8.onnx')
    quantize_static(source, out, reader, quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=excluded,
                    calibrate_method=CalibrationMethod.MinMax, reduce_range=reduce_range)
    if tail:
        quantized = onnx.load(out)
        quantized.graph.node.extend(tail)
        used = {t for n in tail for t in n.input}
        have = {t.name for t in quantized.graph.initializer}
        quantized.graph.initializer.extend(t for t in model.graph.initializer
                                           if t.name in used and t.name not in have)
        del quantized.graph.output[:]
        quantized.graph.output.extend(model.graph.output)
        onnx.checker.check_model(quantized)
        onnx.save(quantized, out)
        os.remove(source)
    return out
