"""int8 with ONNX Runtime's post-training quantisation (``quantize_static``, QDQ format)."""
import os
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


def split_postprocess(model, postprocess, work_dir):
    """The part of ``model`` before its ``postprocess`` nodes, saved in ``work_dir``, and those
    nodes: the network's file ends at the tensors the post-processing reads. ONNX Runtime's
    calibrator reduces every tensor of the graph, including those after an NMS, which are empty
    when nothing is detected (a random-weights detector), and fails there."""
    import onnx
    post = set(postprocess)
    inputs = [i.name for i in model.graph.input]
    network_tensors = set(inputs) | {o for n in model.graph.node if n.name not in post
                                     for o in n.output}
    boundary = []
    for node in model.graph.node:
        for tensor in node.input if node.name in post else ():
            if tensor in network_tensors and tensor not in boundary + inputs:
                boundary.append(tensor)
    boundary += [o.name for o in model.graph.output
                 if o.name in network_tensors and o.name not in boundary]
    network = onnx.utils.Extractor(model).extract_model(inputs, boundary)
    network.metadata_props.extend(model.metadata_props)  # prepare()'s record that it ran
    path = osp.join(work_dir, 'end2end_network.onnx')
    onnx.save(network, path)
    return path, [n for n in model.graph.node if n.name in post]


def quantize_qdq(onnx_file, input_name, calib, excluded, work_dir, postprocess=()):
    """``end2end_int8.onnx`` in ``work_dir``: uint8 activations and per-channel int8 weights
    (ONNX Runtime's x86 scheme: VNNI instructions take u8 x s8; per-channel scales for the
    depthwise convs, whose channels' ranges differ by orders of magnitude), MinMax ranges of
    ``calib``, the ``excluded`` nodes in float. The ``postprocess`` nodes (float) are split off
    before calibration and put back after it (:func:`split_postprocess`)."""
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
                    calibrate_method=CalibrationMethod.MinMax)
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
