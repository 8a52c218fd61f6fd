"""The nodes of a deployed ONNX graph sorted into structural groups (:data:`GROUPS`) by the
graph's shape, not by node names, so that one list of layers serves every task
(docs/quantization.md). Only onnx is imported."""
import re
from collections import defaultdict

COMPUTE_OPS = ('Conv', 'ConvTranspose', 'Gemm', 'MatMul')
_GATE_OPS = ('Sigmoid', 'HardSigmoid', 'Clip', 'Resize')
_DOWN_OPS = ('AveragePool', 'MaxPool', 'Resize')
_SELECT_OPS = ('TopK', 'NonMaxSuppression')

# The groups of :func:`layer_groups` in order of precedence (docs/quantization.md has a table):
# 'output' is the last compute layers, 'postprocess' all after them (never quantised); the DFC
# attention is down-sampling -> 1x1 projection -> depthwise (1, k) and (k, 1) convs -> gate.
GROUPS = ('postprocess', 'output', 'dfc.down', 'dfc.proj', 'dfc.hfc', 'dfc.vfc', 'dfc.gate', 'se',
          'stem', 'depthwise', 'conv', 'add', 'other')


def _attr(node, name, default=None):
    import onnx
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name),
                default)


def _kernel_shape(node, initializers):
    shape = _attr(node, 'kernel_shape')
    if shape is None and node.input[1] in initializers:
        shape = initializers[node.input[1]].dims[2:]
    return tuple(shape) if shape is not None else None


def _is_depthwise(node):
    return node.op_type == 'Conv' and _attr(node, 'group', 1) > 1


def _is_pooling_conv(node, initializers):
    """A 2x2 depthwise conv of stride 2: the DFC pooling as ``transforms.conv_pooling`` has it."""
    return _is_depthwise(node) and _kernel_shape(node, initializers) == (2, 2) and \
        tuple(_attr(node, 'strides', ())) == (2, 2)


def name_nodes(model):
    """Give every unnamed node of ``model`` (changed in place) a unique name, as nodes are
    selected by name. Returns whether any was named."""
    names = {n.name for n in model.graph.node}
    unnamed = [(i, node) for i, node in enumerate(model.graph.node) if not node.name]
    for i, node in unnamed:
        name = f'{node.op_type}_{i}'
        while name in names:
            name += '_'
        node.name = name
        names.add(name)
    return bool(unnamed)


def layer_groups(model):
    """The node names of each of the :data:`GROUPS` of ``model`` (named, :func:`name_nodes`), in
    graph order; every node is in exactly one group."""
    graph = model.graph
    nodes = list(graph.node)
    producer = {out: n for n in nodes for out in n.output}
    consumers = defaultdict(list)
    for n in nodes:
        for inp in n.input:
            consumers[inp].append(n)
    initializers = {t.name: t for t in graph.initializer}
    graph_inputs = {i.name for i in graph.input} - set(initializers)

    # Compute layers after a selection (top-k, NMS) belong to the post-processing: RTMDet-Ins
    # decodes the kept instances' masks with MatMuls. ONNX lists nodes in topological order.
    selected = set()
    for n in nodes:
        if n.op_type in _SELECT_OPS or any(
                i in producer and producer[i].name in selected for i in n.input):
            selected.add(n.name)

    def network(node):
        return node.op_type in COMPUTE_OPS and node.name not in selected

    # Nodes with a compute layer of the network downstream; the rest of the graph is output
    # layers and post-processing.
    feeds_compute = set()
    for n in reversed(nodes):
        if any(network(c) or c.name in feeds_compute for out in n.output for c in consumers[out]):
            feeds_compute.add(n.name)
    group = {n.name: 'output' if network(n) else 'postprocess'
             for n in nodes if n.name not in feeds_compute}

    def single_use(node, ops):
        """Whether ``node`` is one of ``ops`` whose value (not shape: dynamic exports read sizes
        with Shape) feeds one node."""
        return node is not None and node.op_type in ops and \
            sum(c.op_type != 'Shape' for c in consumers[node.output[0]]) == 1

    # Attention branches end in a Mul of the features with a gate: walk back from each Mul.
    for mul in nodes:
        if mul.op_type != 'Mul' or mul.name in group:
            continue
        for inp in mul.input:
            gate, src = [], producer.get(inp)
            while single_use(src, _GATE_OPS):
                gate.append(src)
                src = producer.get(src.input[0])
            if not gate or not single_use(src, ('Conv', )):
                continue
            convs = [src]
            while single_use(prev := producer.get(convs[-1].input[0]), ('Conv', )):
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
                group.update(dict.fromkeys([g.name for g in gate + [mul]], 'dfc.gate'))
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

    groups = {g: [] for g in GROUPS}
    for n in nodes:
        if n.name not in group:
            compute = n.op_type in COMPUTE_OPS
            group[n.name] = ('stem' if compute and n.input[0] in graph_inputs
                             else 'depthwise' if _is_depthwise(n)
                             else 'conv' if compute
                             else 'add' if n.op_type in ('Add', 'Sum') else 'other')
        groups[group[n.name]].append(n.name)
    return groups


def small_map_nodes(model, input_shape, max_side, groups=None):
    """The names of the nodes of ``model`` (named) that compute on feature maps of sides at most
    ``max_side`` at the (N, C, H, W) ``input_shape``: by the largest 4-D map a node reads or
    writes, the nodes of a DFC or SE branch by the features it gates. Nodes of shapes that shape
    inference cannot tell are left out. ``groups``: ``layer_groups(model)`` if computed already.
    """
    import onnx
    inferred = onnx.ModelProto()
    inferred.CopyFrom(model)
    inp = graph_input(inferred)
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
    groups = groups or layer_groups(model)
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


def select_nodes(model, layers, groups=None):
    """The names of the nodes of ``model`` (named) that ``layers`` selects, in graph order: each
    a group of :data:`GROUPS` (``'dfc.gate'``), a group prefix (``'dfc'``), an ONNX op type
    (``'Sigmoid'``) or a regular expression searched in the node names (``'re:blocks\\.9\\.'``).
    ``groups``: ``layer_groups(model)`` if computed already.
    """
    groups = groups or layer_groups(model)
    op_types = {n.op_type for n in model.graph.node}
    chosen = set()
    for layer in layers:
        if layer.startswith('re:'):
            pattern = re.compile(layer[3:])
            chosen.update(n.name for n in model.graph.node if pattern.search(n.name))
        elif named := [g for g in groups if g == layer or g.startswith(layer + '.')]:
            chosen.update(name for g in named for name in groups[g])
        elif layer in op_types:
            chosen.update(n.name for n in model.graph.node if n.op_type == layer)
        elif not layer[:1].isupper():
            raise ValueError(f'layer {layer!r} is neither a group of {GROUPS}, an op type nor a '
                             're: pattern')
    return [n.name for n in model.graph.node if n.name in chosen]


def graph_input(model):
    """The input of ``model`` that is not an initializer (the image)."""
    initializers = {t.name for t in model.graph.initializer}
    return next(i for i in model.graph.input if i.name not in initializers)


def unshare_parameters(model):
    """Give every compute layer of ``model`` (changed in place) its own weight and bias
    initializers; returns how many inputs were given a copy. PyTorch's exporter merges equal
    initializers, and ONNX Runtime's quantiser gives the convs sharing a bias a dequantised one,
    which keeps the float convs out of its blocked layout."""
    from onnx import numpy_helper
    initializers = {t.name: t for t in model.graph.initializer}
    names = set(initializers) | {n.name for n in model.graph.node} | \
        {o for n in model.graph.node for o in n.output}
    seen, copies = set(), 0
    for node in (n for n in model.graph.node if n.op_type in COMPUTE_OPS):
        for i, name in list(enumerate(node.input))[1:]:
            if name in initializers and name in seen:
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
