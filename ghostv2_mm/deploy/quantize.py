"""Post-training int8 quantisation of deployed ONNX models with the runtimes' own tools, and the
fidelity of a quantised model's outputs to the float model's.

``onnxruntime`` quantises with ``onnxruntime.quantization.quantize_static`` (QDQ format, per-channel
int8 weights, uint8 activations) into ``end2end_int8.onnx``; OpenVINO with NNCF's post-training
quantisation (``nncf.quantize``) into ``end2end_int8.xml/.bin``. Both are calibrated on the
inputs given and keep the same layers in float.

Which layers stay float is found by ``tools/deployment/quant_sensitivity.py`` and named by the
*structure* of the graph, not by node names, so that one list serves the classifier, the detector
and the segmentor whatever their exporters call the layers (:func:`layer_groups`). GhostNetV2's
DFC attention branch, for example, is found as pooling -> 1x1 conv -> depthwise ``(1, k)`` conv ->
depthwise ``(k, 1)`` conv -> gate (sigmoid, resize) -> multiply. The post-processing after the
network's last compute layers (box decoding, NMS, arg-max, resizing of the logits) is never
quantised: it costs little and its outputs are coordinates and labels.

Only numpy and onnx are imported here; each runtime is imported when used, and
:func:`dataset_inputs` needs PyTorch and the OpenMMLab libraries.
"""
import os
import os.path as osp
import re
from collections import defaultdict

import numpy as np

BACKENDS = ('onnxruntime', 'openvino')
PRECISIONS = ('int8', )
TASKS = ('classification', 'detection', 'segmentation')

COMPUTE_OPS = ('Conv', 'ConvTranspose', 'Gemm', 'MatMul')
_GATE_OPS = ('Sigmoid', 'HardSigmoid', 'Clip', 'Resize')
_DOWN_OPS = ('AveragePool', 'MaxPool', 'Resize')

# The groups :func:`layer_groups` sorts the nodes of a graph into, in order of precedence.
GROUPS = (
    'postprocess',  # after the last compute layers: decoding, NMS, arg-max (never quantised)
    'output',       # the last compute layers, whose outputs are the raw predictions
    'dfc.down',     # DFC attention: down-sampling of the input (pooling, or a conv of it)
    'dfc.proj',     # DFC attention: 1x1 conv to the attention's channels
    'dfc.hfc',      # DFC attention: depthwise (1, k) conv, the horizontal FC
    'dfc.vfc',      # DFC attention: depthwise (k, 1) conv, the vertical FC
    'dfc.gate',     # DFC attention: scaling function, up-sampling and the multiply
    'se',           # squeeze-and-excitation: global pool, two 1x1 convs, gate, multiply
    'stem',         # compute layers reading the network input
    'depthwise',    # other depthwise convs (Ghost modules' cheap operations, strided dw convs)
    'conv',         # other convs (pointwise and dense, in backbone, neck and head)
    'add',          # residual and other additions
    'other',        # everything else (activations, concatenation, pooling, resizing)
)

# Layers kept in float unless told otherwise, per backend, found with
# tools/deployment/quant_sensitivity.py on the trained shapes models (docs/quantization.md gives
# the measurements). OpenVINO: the stem (the most sensitive group) and the output layers, both
# cheap in float. ONNX Runtime: the DFC branch's convs too, since its int8 kernels run them slower
# than float (detector 23.0 ms against 16.4 ms) for the same fidelity.
DEFAULT_SENSITIVE_LAYERS = {
    'onnxruntime': ('dfc.proj', 'dfc.hfc', 'dfc.vfc', 'output'),
    'openvino': ('stem', 'output'),
}
# OpenVINO's int8 kernels for Intel's AMX tiles (OpenVINO 2026.4) crash with a segmentation fault
# on GhostNetV2's layers at small feature maps: the 1.0x classifier at 64x64, whose stride-16 and
# stride-32 stages run at 4x4 and 2x2, crashes on its first inference; at 96x96 and larger it
# runs, and so does every size with those stages in float. OpenVINO's int8 files keep the layers
# on maps of at most this side in float on every CPU, so that a file written on one CPU runs on
# the others (docs/quantization.md).
OPENVINO_FLOAT_MAX_SIDE = 4


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, but received {value!r}')


# ----------------------------------------------------------------------------------------------
# The structure of the graph
# ----------------------------------------------------------------------------------------------
def _attr(node, name, default=None):
    import onnx
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _kernel_shape(node, initializers):
    shape = _attr(node, 'kernel_shape')
    if shape is None and node.input[1] in initializers:
        shape = initializers[node.input[1]].dims[2:]
    return tuple(shape) if shape is not None else None


def _is_depthwise(node):
    return node.op_type == 'Conv' and _attr(node, 'group', 1) > 1


def _is_pooling_conv(node, initializers):
    """A depthwise conv whose stride is its kernel, 2x2: GhostNetV2's DFC pooling as ONNX
    Runtime's quantised files take it (``ghostv2_mm.models.deploy.conv_pooling``)."""
    strides = _attr(node, 'strides')
    return _is_depthwise(node) and _kernel_shape(node, initializers) == (2, 2) and \
        strides is not None and tuple(strides) == (2, 2)


def name_nodes(model):
    """Give every unnamed node of ``model`` (an ``onnx.ModelProto``, changed in place) a unique
    name: the tools select nodes by name. Returns whether any was named."""
    names = {n.name for n in model.graph.node}
    changed = False
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f'{node.op_type}_{i}'
            while name in names:
                name += '_'
            node.name = name
            names.add(name)
            changed = True
    return changed


def layer_groups(model):
    """Sort the nodes of an ONNX graph into the structural :data:`GROUPS`.

    Args:
        model (onnx.ModelProto): A graph with named nodes (:func:`name_nodes`).

    Returns:
        dict[str, list[str]]: The node names of each group, in graph order; every node is in
        exactly one group.
    """
    graph = model.graph
    nodes = list(graph.node)
    producer = {out: n for n in nodes for out in n.output}
    consumers = defaultdict(list)
    for n in nodes:
        for inp in n.input:
            consumers[inp].append(n)
    # Consumers of the values, not of the shapes (dynamic exports read sizes with Shape).
    users = lambda tensor: [c for c in consumers[tensor] if c.op_type != 'Shape']
    initializers = {t.name: t for t in graph.initializer}
    graph_inputs = {i.name for i in graph.input} - set(initializers)

    # Nodes with a compute layer downstream; the rest of the graph is output layers and
    # post-processing. ONNX lists nodes in topological order.
    feeds_compute = set()
    for n in reversed(nodes):
        for out in n.output:
            if any(c.op_type in COMPUTE_OPS or c.name in feeds_compute for c in consumers[out]):
                feeds_compute.add(n.name)
                break

    group = {}
    for n in nodes:
        if n.name not in feeds_compute:
            group[n.name] = 'output' if n.op_type in COMPUTE_OPS else 'postprocess'

    def single_producer(node, op_types):
        """The producer of ``node``'s first activation input if it is one of ``op_types`` and
        feeds ``node`` only."""
        src = producer.get(node.input[0])
        if src is None or src.op_type not in op_types:
            return None
        if any(len(users(out)) != 1 for out in src.output):
            return None
        return src

    # Attention branches end in a Mul of the features with a gate: walk back from each Mul.
    for mul in nodes:
        if mul.op_type != 'Mul' or mul.name in group:
            continue
        for inp in mul.input:
            gate, src = [], producer.get(inp)
            while src is not None and src.op_type in _GATE_OPS and len(users(src.output[0])) == 1:
                gate.append(src)
                src = producer.get(src.input[0])
            if not gate or src is None or src.op_type != 'Conv' or len(users(src.output[0])) != 1:
                continue
            convs = [src]
            while (prev := single_producer(convs[-1], ('Conv', ))) is not None:
                convs.append(prev)
            pooling_conv = len(convs) >= 3 and _is_pooling_conv(convs[-1], initializers)
            # The 2x2 pooling, or the depthwise conv it is exported as.
            before = convs.pop() if pooling_conv else producer.get(convs[-1].input[0])
            if before is not None and (pooling_conv or before.op_type in _DOWN_OPS) \
                    and not _is_depthwise(convs[-1]) \
                    and all(_is_depthwise(c) for c in convs[:-1]) and len(convs) >= 2:
                group[before.name] = 'dfc.down'
                group[convs[-1].name] = 'dfc.proj'
                for conv in convs[:-1]:
                    kernel = _kernel_shape(conv, initializers)
                    group[conv.name] = 'dfc.hfc' if kernel and kernel[0] == 1 else 'dfc.vfc'
                for g in gate + [mul]:
                    group[g.name] = 'dfc.gate'
                break
            # Squeeze-and-excitation: global pool -> conv -> activation -> conv -> gate -> Mul.
            act = producer.get(convs[0].input[0])
            reduce = producer.get(act.input[0]) if act is not None else None
            pool = producer.get(reduce.input[0]) if reduce is not None else None
            if len(convs) == 1 and reduce is not None and reduce.op_type == 'Conv' and \
                    pool is not None and pool.op_type in ('GlobalAveragePool', 'ReduceMean'):
                for g in [pool, reduce, act, convs[0]] + gate + [mul]:
                    group[g.name] = 'se'
                break

    for n in nodes:
        if n.name in group:
            continue
        if n.op_type in COMPUTE_OPS and n.input[0] in graph_inputs:
            group[n.name] = 'stem'
        elif _is_depthwise(n):
            group[n.name] = 'depthwise'
        elif n.op_type in COMPUTE_OPS:
            group[n.name] = 'conv'
        elif n.op_type in ('Add', 'Sum'):
            group[n.name] = 'add'
        else:
            group[n.name] = 'other'

    groups = {g: [] for g in GROUPS}
    for n in nodes:
        groups[group[n.name]].append(n.name)
    return groups


def small_map_nodes(model, input_shape, max_side):
    """The names of the nodes of ``model`` that compute on feature maps whose sides are at most
    ``max_side`` when the input is ``input_shape``: by the largest 4-D map a node reads or
    writes, and for the nodes of an attention branch (DFC, SE: their own maps are smaller) by the
    features the branch gates. Nodes whose shapes ONNX's shape inference cannot tell are left
    out.

    Args:
        model (onnx.ModelProto): A graph with named nodes.
        input_shape (tuple[int, int, int, int]): The (N, C, H, W) input.
        max_side (int): The largest side of the maps selected.
    """
    import onnx
    inferred = onnx.ModelProto()
    inferred.CopyFrom(model)
    initializers = {t.name for t in inferred.graph.initializer}
    inp = next(i for i in inferred.graph.input if i.name not in initializers)
    for dim, size in zip(inp.type.tensor_type.shape.dim, input_shape):
        dim.ClearField('dim_param')
        dim.dim_value = int(size)
    inferred = onnx.shape_inference.infer_shapes(inferred)
    sides = {}
    for info in [inp, *inferred.graph.value_info, *inferred.graph.output]:
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 4 and all(d.HasField('dim_value') for d in dims[2:]):
            sides[info.name] = max(dims[2].dim_value, dims[3].dim_value)
    nodes = list(model.graph.node)
    side = {}
    for n in nodes:
        known = [sides[t] for t in [*n.input, *n.output] if t in sides]
        if known:
            side[n.name] = max(known)
    groups = layer_groups(model)
    branch = {name for g in GROUPS if g.startswith('dfc.') or g == 'se' for name in groups[g]}
    producer = {out: n for n in nodes for out in n.output}
    for mul in [n for n in nodes if n.name in groups['dfc.gate'] + groups['se']
                and n.op_type == 'Mul']:
        features, todo = sides.get(mul.output[0]), [mul]
        while todo:
            node = todo.pop()
            side.pop(node.name, None)
            if features is not None:
                side[node.name] = features
            todo += [producer[t] for t in node.input if t in producer
                     and producer[t].name in branch and producer[t] is not node
                     and side.get(producer[t].name, -1) != features]
    return [n.name for n in nodes if side.get(n.name, max_side + 1) <= max_side]


def select_nodes(model, layers):
    """The names of the nodes of ``model`` that ``layers`` selects, in graph order.

    Args:
        model (onnx.ModelProto): A graph with named nodes.
        layers (Iterable[str]): Each a group of :data:`GROUPS` (``'dfc.gate'``), a group prefix
            (``'dfc'``: all DFC groups), an ONNX op type (``'Sigmoid'``) or a regular expression
            searched in the node names (``'re:blocks\\.9\\.'``).
    """
    groups = layer_groups(model)
    op_types = {n.op_type for n in model.graph.node}
    chosen = set()
    for layer in layers:
        if layer.startswith('re:'):
            pattern = re.compile(layer[3:])
            chosen.update(n.name for n in model.graph.node if pattern.search(n.name))
        elif layer in groups:
            chosen.update(groups[layer])
        elif any(g.startswith(layer + '.') for g in groups):
            chosen.update(name for g in groups if g.startswith(layer + '.') for name in groups[g])
        elif layer in op_types:
            chosen.update(n.name for n in model.graph.node if n.op_type == layer)
        elif not layer[:1].isupper():
            raise ValueError(f'layer {layer!r} is neither a group of {GROUPS}, an op type nor a '
                             're: pattern')
    return [n.name for n in model.graph.node if n.name in chosen]


# ----------------------------------------------------------------------------------------------
# Quantisation
# ----------------------------------------------------------------------------------------------
def _input_name(model):
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers][0]


def unshare_parameters(model):
    """Give every compute layer of ``model`` (an ``onnx.ModelProto``, changed in place) its own
    weight and bias initializers. Returns how many inputs were given a copy.

    PyTorch's exporter merges initializers with equal values, e.g. the all-zero biases of a
    network with freshly initialised batch norms (behind ``Identity`` nodes, which ONNX
    Runtime's quantisation pre-processing folds into one shared initializer). Its quantiser
    then quantises a shared bias once, with the scale of the first conv reading it (a bias is
    quantised with its conv's input scale times weight scale), and every other conv reading
    it, the ones kept in float included, gets the dequantised copy: the float convs then have a
    computed bias, which keeps ONNX Runtime from running them in its blocked layout
    (docs/performance.md).
    """
    from onnx import numpy_helper
    initializers = {t.name: t for t in model.graph.initializer}
    names = set(initializers) | {n.name for n in model.graph.node} | \
        {o for n in model.graph.node for o in n.output}
    seen, copies = set(), 0
    for node in model.graph.node:
        if node.op_type not in COMPUTE_OPS:
            continue
        for i in range(1, len(node.input)):
            name = node.input[i]
            if name not in initializers:
                continue
            if name in seen:
                new = f'{name}_{node.name}'
                while new in names:
                    new += '_'
                names.add(new)
                model.graph.initializer.append(
                    numpy_helper.from_array(numpy_helper.to_array(initializers[name]), new))
                node.input[i] = new
                copies += 1
            seen.add(name)
    return copies


def _samples(calib_inputs):
    """One image at a time (static exports take batch 1; statistics are the same)."""
    for batch in calib_inputs:
        batch = np.asarray(batch, dtype=np.float32)
        for i in range(batch.shape[0]):
            yield batch[i:i + 1]


def quantize(onnx_file, backend, precision, calib_inputs, work_dir, sensitive_layers=None,
             quantize_only=None, unshare=True, float_max_side=None):
    """Quantise an exported ONNX model with the runtime's own post-training quantisation.

    Args:
        onnx_file (str): The float model (e.g. mmdeploy's ``end2end.onnx``).
        backend (str): ``'onnxruntime'`` (``end2end_int8.onnx``, QDQ) or ``'openvino'``
            (``end2end_int8.xml/.bin``, NNCF).
        precision (str): ``'int8'``. (bf16 needs no new file: it is OpenVINO's
            ``INFERENCE_PRECISION_HINT``, see :func:`openvino_config`.)
        calib_inputs (Iterable[np.ndarray]): Pre-processed (N, 3, H, W) float32 inputs,
            e.g. from :func:`dataset_inputs` on training images.
        work_dir (str): Where the files are written.
        sensitive_layers (Iterable[str], optional): Layers kept in float, as
            :func:`select_nodes` takes them. None: ``DEFAULT_SENSITIVE_LAYERS[backend]``; ``[]``:
            quantise every layer (the post-processing stays float).
        quantize_only (Iterable[str], optional): Quantise only these layers (same forms), for
            sensitivity analysis; the others stay float. Defaults to None (all but
            ``sensitive_layers``).
        unshare (bool): ONNX Runtime: give every compute layer its own parameters first
            (:func:`unshare_parameters`). Defaults to True; False only to measure what it
            changes (``tools/analysis/rewrite_experiments.py int8-structure``).
        float_max_side (int, optional): Keep float the layers on feature maps of at most this
            side (:func:`small_map_nodes`, at the calibration inputs' size) whatever the other
            arguments say. None: :data:`OPENVINO_FLOAT_MAX_SIDE` for OpenVINO, 0 for ONNX
            Runtime.

    Returns:
        dict: ``files`` (the files written), ``ignored`` (the names of the ONNX nodes kept in
        float because of ``sensitive_layers`` or ``quantize_only``), ``postprocess`` (the
        post-processing nodes, always float) and ``small_maps`` (the other nodes kept
        float because they compute on maps of at most ``float_max_side``).

    Raises:
        RuntimeCrash: OpenVINO crashed running the int8 file once on this CPU (in a subprocess).
    """
    import onnx

    from ..errors import RuntimeCrash
    from .runtime import check_runs
    check_choice('backend', backend, BACKENDS)
    check_choice('precision', precision, PRECISIONS)
    os.makedirs(work_dir, exist_ok=True)
    calib = list(_samples(calib_inputs))
    if not calib:
        raise ValueError('calib_inputs is empty')
    source, temporary = onnx_file, []
    if backend == 'onnxruntime':
        # ORT's quantisation pre-processing (shape inference, constant folding): it finds the
        # convs' biases behind the exporter's Identity nodes, which it would leave in float.
        from onnxruntime.quantization import quant_pre_process
        source = osp.join(work_dir, 'end2end_preprocessed.onnx')
        model = onnx.load(onnx_file)
        opset = next(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))
        if opset < 13:
            # Per-channel DequantizeLinear (its axis) needs opset 13; mmdeploy exports opset 11.
            model = onnx.version_converter.convert_version(model, 13)
        quant_pre_process(model, source)
        temporary.append(source)
    model = onnx.load(source)
    renamed = name_nodes(model)
    if (backend == 'onnxruntime' and unshare and unshare_parameters(model)) or renamed:
        source = osp.join(work_dir, 'end2end_named.onnx')
        onnx.save(model, source)
        temporary.append(source)
    postprocess = layer_groups(model)['postprocess']
    if quantize_only is not None:
        kept = set(select_nodes(model, quantize_only))
        ignored = [n.name for n in model.graph.node if n.name not in kept]
    else:
        layers = DEFAULT_SENSITIVE_LAYERS[backend] if sensitive_layers is None \
            else sensitive_layers
        ignored = select_nodes(model, layers)
    if float_max_side is None:
        float_max_side = OPENVINO_FLOAT_MAX_SIDE if backend == 'openvino' else 0
    small_maps = small_map_nodes(model, calib[0].shape, float_max_side) if float_max_side else []
    excluded = set(ignored) | set(postprocess) | set(small_maps)
    excluded = [n.name for n in model.graph.node if n.name in excluded]
    if backend == 'onnxruntime':
        files = [_quantize_onnxruntime(source, model, calib, excluded, work_dir)]
    else:
        files = _quantize_openvino(source, model, calib, excluded, work_dir)
        # A crash in the runtime's kernels on this CPU ends a subprocess, not the caller.
        try:
            check_runs(files[0], backend, precision, calib[0])
        except RuntimeCrash as e:
            raise RuntimeCrash(f'{e}; keep more layers float (sensitive_layers), or run OpenVINO '
                               'without AMX (ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI)') from None
    for path in temporary:
        os.remove(path)
    ignored = [name for name in ignored if name not in set(postprocess)]
    small_maps = [name for name in small_maps if name not in set(ignored) | set(postprocess)]
    return dict(files=files, ignored=ignored, postprocess=postprocess, small_maps=small_maps)


def _quantize_onnxruntime(onnx_file, model, calib, excluded, work_dir):
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    class Reader(CalibrationDataReader):

        def __init__(self, name, samples):
            self._items = iter([{name: x} for x in samples])

        def get_next(self):
            return next(self._items, None)

    out = osp.join(work_dir, 'end2end_int8.onnx')
    # uint8 activations and per-channel int8 weights: ORT's recommended x86 scheme (VNNI
    # instructions take u8 x s8), and per-channel scales for the depthwise convs, whose
    # channels' ranges differ by orders of magnitude.
    quantize_static(onnx_file, out, Reader(_input_name(model), calib),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=excluded, calibrate_method=CalibrationMethod.MinMax)
    return out


def openvino_names(ov_model, onnx_names):
    """The OpenVINO operations an ONNX node became: OpenVINO's ONNX frontend names them after
    the node (``NAME``) or with a suffix (``NAME/WithoutBiases`` for a conv whose bias became an
    ``Add``)."""
    wanted = set(onnx_names)
    found = []
    for op in ov_model.get_ops():
        name = op.get_friendly_name()
        if name in wanted or name.split('/WithoutBiases')[0] in wanted:
            found.append(name)
    return found


def _quantize_openvino(onnx_file, model, calib, excluded, work_dir):
    import nncf
    import openvino as ov
    ov_model = ov.Core().read_model(onnx_file)
    input_name = ov_model.inputs[0].get_any_name()
    ignored = nncf.IgnoredScope(names=openvino_names(ov_model, excluded), validate=False)
    # MIXED: symmetric weights and asymmetric activations (the DFC gate and the activations
    # after the Ghost modules' concatenation are far from symmetric about 0).
    quantized = nncf.quantize(ov_model, nncf.Dataset(calib, lambda x: {input_name: x}),
                              preset=nncf.QuantizationPreset.MIXED, subset_size=len(calib),
                              ignored_scope=ignored)
    xml = osp.join(work_dir, 'end2end_int8.xml')
    ov.save_model(quantized, xml, compress_to_fp16=False)
    return [xml, xml[:-4] + '.bin']


def openvino_config(precision, threads=None):
    """The ``compile_model`` config for ``precision`` ('fp32', 'bf16' or 'int8'): the inference
    precision is always given, since OpenVINO defaults to bf16 on CPUs that have it. An int8
    model runs its float layers in f32 (they are float because they are sensitive)."""
    check_choice('precision', precision, ('fp32', 'bf16', 'int8'))
    config = {'INFERENCE_PRECISION_HINT': 'bf16' if precision == 'bf16' else 'f32'}
    if threads:
        config['INFERENCE_NUM_THREADS'] = threads
    return config


# ----------------------------------------------------------------------------------------------
# Fidelity
# ----------------------------------------------------------------------------------------------
def top1_agreement(reference, candidate):
    """The fraction of images whose top-1 class is the same in both (N, C) logits."""
    reference, candidate = np.asarray(reference), np.asarray(candidate)
    return float((reference.argmax(-1) == candidate.argmax(-1)).mean())


def box_iou(a, b):
    """IoU of every pair of (N, 4) and (M, 4) xyxy boxes: (N, M)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


def matched_box_iou(reference, candidate, score_thr=0.3):
    """Mean IoU of matched boxes: in each image, the boxes scoring at least ``score_thr`` are
    matched one to one, greedily by IoU, to boxes of the same class; a box left without a match
    in either set counts as IoU 0, so missing and extra boxes both lower the figure.

    Args:
        reference, candidate (list[tuple[np.ndarray, np.ndarray]]): Per image, (N, 5) boxes
            ``x1, y1, x2, y2, score`` and (N,) labels (mmdeploy's ``dets`` and ``labels``).

    Returns:
        float: In [0, 1]; 1 when neither has a box.
    """
    total, slots = 0., 0
    for (rd, rl), (cd, cl) in zip(reference, candidate):
        rd, rl, cd, cl = map(np.asarray, (rd, rl, cd, cl))
        rkeep, ckeep = rd[:, 4] >= score_thr, cd[:, 4] >= score_thr
        rd, rl, cd, cl = rd[rkeep], rl[rkeep], cd[ckeep], cl[ckeep]
        slots += max(len(rd), len(cd))
        if not len(rd) or not len(cd):
            continue
        iou = box_iou(rd[:, :4], cd[:, :4]) * (rl[:, None] == cl[None])
        while iou.size and iou.max() > 0:
            i, j = np.unravel_index(iou.argmax(), iou.shape)
            total += iou[i, j]
            iou[i, :] = 0
            iou[:, j] = 0
    return total / slots if slots else 1.


def pixel_agreement(reference, candidate):
    """The fraction of pixels with the same class in both label maps (any shape) or, for
    float (N, C, H, W) logits, in their arg-max."""
    def labels(x):
        x = np.asarray(x)
        return x.argmax(1) if np.issubdtype(x.dtype, np.floating) and x.ndim == 4 else x
    return float((labels(reference) == labels(candidate)).mean())


def fidelity(task, reference, candidate, **kwargs):
    """How closely ``candidate`` outputs follow ``reference`` ones: top-1 agreement of logits
    (classification), mean IoU of matched boxes (detection, :func:`matched_box_iou`) or pixel
    agreement of label maps (segmentation). The outputs are per image, as the runtimes return
    them (lists of output arrays of batch 1, or arrays stacked over the images)."""
    check_choice('task', task, TASKS)
    if task == 'classification':
        return top1_agreement(_stack(reference), _stack(candidate))
    if task == 'segmentation':
        return pixel_agreement(_stack(reference), _stack(candidate))
    per_image = lambda outs: [(o[0][0], o[1][0]) for o in outs]
    return matched_box_iou(per_image(reference), per_image(candidate), **kwargs)


def _stack(outputs):
    if isinstance(outputs, np.ndarray):
        return outputs
    return np.concatenate([o[0] if isinstance(o, (list, tuple)) else o for o in outputs])


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------
def dataset_inputs(config, split='train', num=None, shape=None):
    """Pre-processed inputs of a model config's dataset, as the deployed model takes them: the
    test pipeline (no augmentation) and the model's data pre-processor (normalisation, BGR to
    RGB, padding), one image per array. Needs PyTorch and the config's OpenMMLab library.

    Args:
        config (str | Config): An mmpretrain/mmdet/mmseg config.
        split (str): ``'train'`` (calibration) or ``'val'``. Defaults to ``'train'``.
        num (int, optional): How many images (spread evenly over the set). Defaults to all.
        shape (tuple[int, int], optional): Pad or check to this (H, W), for static exports.

    Returns:
        tuple[list[np.ndarray], list[dict]]: The (1, 3, H, W) float32 inputs and each image's
        ``data_samples`` (ground truth and meta information) for evaluation.
    """
    import importlib

    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from ..apis import build_model
    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    scope = cfg.get('default_scope', 'mmengine')
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        dataset_cfg = cfg[f'{split}_dataloader'].dataset.copy()
        while 'dataset' in dataset_cfg:  # RepeatDataset and other wrappers
            dataset_cfg = dataset_cfg.dataset
        dataset_cfg.pipeline = cfg.get('test_pipeline', cfg.val_dataloader.dataset.pipeline)
        if split == 'train' and scope == 'mmdet':
            dataset_cfg['filter_cfg'] = None
        dataset = registry.DATASETS.build(dataset_cfg)
        preprocessor = build_model(cfg, {'model.backbone.init_cfg': None}).data_preprocessor
        indices = range(len(dataset)) if num is None else \
            np.linspace(0, len(dataset) - 1, min(num, len(dataset))).round().astype(int)
        inputs, samples = [], []
        for i in indices:
            with torch.no_grad():
                data = preprocessor(pseudo_collate([dataset[int(i)]]), False)
            x = data['inputs']
            if shape is not None and tuple(x.shape[-2:]) != tuple(shape):
                h, w = x.shape[-2:]
                if h > shape[0] or w > shape[1]:
                    raise ValueError(f'image {i} is {h}x{w} after pre-processing, larger than '
                                     f'the static input {shape}')
                x = torch.nn.functional.pad(x, (0, shape[1] - w, 0, shape[0] - h))
            inputs.append(x.numpy().astype(np.float32))
            samples.append(data['data_samples'][0])
        return inputs, samples
