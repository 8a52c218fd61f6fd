"""Per-layer profile of an ONNX model in OpenVINO (``PERF_COUNT``) or ONNX Runtime (its profiler),
summed by operator type: where a deployed network spends its time.

    python tools/analysis/profile_onnx.py ONNX [ONNX ...] [--runtime openvino|onnxruntime]
        [--precision fp32|bf16] [--shape H W] [--threads 2] [--runs 50] [--top 15]
        [--out FILE.json]

Each file runs ``--runs`` times on a random input of its static shape, or of ``--shape`` for
files with dynamic sizes (batch 1; OpenVINO compiles the model reshaped to it), after 10 warm-up
runs, and the per-layer times are averaged over the runs. OpenVINO reports the layers of its
compiled graph (after its fusions; ``exec type`` names the kernel, ``ref`` is its reference
implementation), ONNX Runtime the nodes of its optimised graph. Several files are profiled one
after the other, and their op-type tables printed side by side.
"""
import argparse
import collections
import json
import os
import os.path as osp
import sys
import tempfile

import numpy as np


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('onnx', nargs='+', help='ONNX file(s) with a static input shape')
    parser.add_argument('--runtime', choices=('openvino', 'onnxruntime'), default='openvino')
    parser.add_argument('--precision', choices=('fp32', 'bf16'), default='fp32',
                        help="OpenVINO's inference precision (ONNX Runtime: fp32 only)")
    parser.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'),
                        help='input size for files whose input size is dynamic')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=50)
    parser.add_argument('--top', type=int, default=15, help='slowest layers listed per file')
    parser.add_argument('--out', help='write the per-layer and per-type times here (JSON)')
    return parser.parse_args()


def make_input(path, shape=None):
    """A random (1, C, H, W) input: the file's static shape, or ``shape`` (H, W) where the
    file's sizes are dynamic."""
    import onnx
    graph_input = onnx.load(path, load_external_data=False).graph.input[0]
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    if shape:
        dims = [1, dims[1], *shape]
    if not all(dims):
        raise SystemExit(f'ONNX {path}: the input shape {dims} is not static (0 = dynamic); '
                         'give its size with --shape H W')
    return np.random.default_rng(0).standard_normal(dims).astype(np.float32)


def profile_openvino(path, x, precision, threads, runs):
    """[(layer name, layer type, exec type, mean ms)] of OpenVINO's compiled graph."""
    import openvino as ov
    core = ov.Core()
    model = core.read_model(path)
    model.reshape({model.inputs[0]: list(x.shape)})  # static: lets OpenVINO fold shape math
    compiled = core.compile_model(model, 'CPU', {
        'INFERENCE_NUM_THREADS': threads, 'PERF_COUNT': True, 'PERFORMANCE_HINT': 'LATENCY',
        'INFERENCE_PRECISION_HINT': 'bf16' if precision == 'bf16' else 'f32'})
    request = compiled.create_infer_request()
    for _ in range(10):
        request.infer({0: x})
    totals = collections.defaultdict(float)
    kinds = {}
    for _ in range(runs):
        request.infer({0: x})
        for info in request.profiling_info:
            if info.status == info.Status.EXECUTED:
                totals[info.node_name] += info.real_time.total_seconds() * 1e3
                kinds[info.node_name] = (info.node_type, info.exec_type)
    return [(name, *kinds[name], t / runs) for name, t in totals.items()]


def profile_onnxruntime(path, x, threads, runs):
    """[(node name, op type, execution provider, mean ms)] of ONNX Runtime's optimised graph."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = osp.join(tempfile.mkdtemp(prefix='ort_profile_'), 'profile')
    session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    for _ in range(10 + runs):
        session.run(None, {name: x})
    trace_file = session.end_profiling()
    with open(trace_file) as f:
        events = json.load(f)
    os.remove(trace_file)
    times = collections.defaultdict(list)
    kinds = {}
    for event in events:
        if event.get('cat') == 'Node' and event['name'].endswith('_kernel_time'):
            node = event['name'][:-len('_kernel_time')]
            times[node].append(event['dur'] / 1e3)
            args = event.get('args', {})
            kinds[node] = (args.get('op_name', '?'), args.get('provider', '?'))
    # Each run times every node once: the last ``runs`` times are the ones after the warm-up.
    return [(node, *kinds[node], float(np.mean(t[-runs:]))) for node, t in times.items()]


def by_type(layers):
    """{op type: (ms, count)}, slowest first."""
    table = collections.defaultdict(lambda: [0.0, 0])
    for _, node_type, exec_type, ms in layers:
        key = f'{node_type} ({exec_type})' if 'ref' in exec_type else node_type
        table[key][0] += ms
        table[key][1] += 1
    return dict(sorted(table.items(), key=lambda kv: -kv[1][0]))


def main():
    args = parse_args()
    if args.runtime == 'onnxruntime' and args.precision != 'fp32':
        raise SystemExit("--precision bf16: ONNX Runtime's CPU execution provider has no bf16 "
                         'kernels; use --runtime openvino')
    for path in args.onnx:
        if not osp.isfile(path):
            raise SystemExit(f'ONNX {path} does not exist')
    results = {}
    for path in args.onnx:
        x = make_input(path, args.shape)
        if args.runtime == 'openvino':
            layers = profile_openvino(path, x, args.precision, args.threads, args.runs)
        else:
            layers = profile_onnxruntime(path, x, args.threads, args.runs)
        results[path] = dict(layers=layers, types=by_type(layers))
        total = sum(layer[-1] for layer in layers)
        print(f'\n{path}: {args.runtime} {args.precision}, {args.threads} threads, '
              f'summed layer time {total:.3f} ms ({len(layers)} layers); slowest layers:')
        for name, node_type, exec_type, ms in sorted(layers, key=lambda r: -r[-1])[:args.top]:
            print(f'  {ms:7.3f} ms  {node_type:<16} {exec_type:<24} {name}')

    names = [osp.splitext(osp.basename(p))[0] for p in args.onnx]
    types = list(dict.fromkeys(t for r in results.values() for t in r['types']))
    print(f'\nms per op type ({args.runtime} {args.precision}, {args.threads} threads; '
          'count in brackets)')
    print('| op type | ' + ' | '.join(names) + ' |')
    print('| --- |' + ' --- |' * len(names))
    for op_type in types:
        cells = [results[p]['types'].get(op_type) for p in args.onnx]
        print(f'| {op_type} | ' + ' | '.join(f'{c[0]:.3f} ({c[1]})' if c else '-'
                                              for c in cells) + ' |')
    print('| total | ' + ' | '.join(f'{sum(c[0] for c in results[p]["types"].values()):.3f}'
                                    for p in args.onnx) + ' |')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(runtime=args.runtime, precision=args.precision,
                           threads=args.threads, runs=args.runs, results=results), f, indent=1)


if __name__ == '__main__':
    sys.exit(main())
