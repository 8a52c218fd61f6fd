"""Per-layer profile of an ONNX model in OpenVINO (``PERF_COUNT``) or ONNX Runtime (its profiler),
summed by operator type: where a deployed network spends its time.

    python tools/analysis/profile_onnx.py ONNX [ONNX ...] [--runtime openvino|onnxruntime]
        [--precision fp32|bf16] [--shape H W] [--threads 2] [--runs 50] [--top 15]
        [--out FILE.json]

Each file runs ``--runs`` times on a random input of its static shape, or of ``--shape`` for
files with dynamic sizes (batch 1; OpenVINO compiles the model reshaped to it), after 10 warm-up
runs, and the per-layer times are averaged over the runs. OpenVINO reports the layers of its
compiled graph (after its fusions; ``exec type`` names the kernel, ``ref`` is its reference
implementation), ONNX Runtime the nodes of its optimised graph. Several files run in turn, one
call each per round, so that drifts of the machine's speed hit them alike, and their op-type
tables are printed side by side with the median wall-clock time of a call (profiling on: the
difference to the summed layer time is the runtime's cost between layers).
"""
import argparse
import collections
import json
import os
import os.path as osp
import sys
import tempfile
import time

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


class OpenVINOProfile:
    """One file compiled by OpenVINO with ``PERF_COUNT``; :meth:`run` infers once and, when
    ``record``, adds each executed layer's time."""

    def __init__(self, path, x, precision, threads):
        from ghostv2_mm.deploy.runtime import openvino_compile

        # Static: lets OpenVINO fold the shape arithmetic.
        compiled, _ = openvino_compile(path, precision, threads, x.shape, perf_count=True)
        self.request = compiled.create_infer_request()
        self.x = x
        self.totals = collections.defaultdict(float)
        self.kinds = {}

    def run(self, record):
        self.request.infer({0: self.x})
        if record:
            for info in self.request.profiling_info:
                if info.status == info.Status.EXECUTED:
                    self.totals[info.node_name] += info.real_time.total_seconds() * 1e3
                    self.kinds[info.node_name] = (info.node_type, info.exec_type)

    def layers(self, runs):
        """[(layer name, layer type, exec type, mean ms)] of the compiled graph."""
        return [(name, *self.kinds[name], t / runs) for name, t in self.totals.items()]


class OnnxRuntimeProfile:
    """One file in an ONNX Runtime session with its profiler on; :meth:`layers` reads the
    trace and keeps the last ``runs`` calls of every node."""

    def __init__(self, path, x, threads):
        from ghostv2_mm.deploy.runtime import onnxruntime_session
        self.session = onnxruntime_session(
            path, threads, osp.join(tempfile.mkdtemp(prefix='ort_profile_'), 'p'))
        self.feed = {self.session.get_inputs()[0].name: x}

    def run(self, record):
        self.session.run(None, self.feed)

    def layers(self, runs):
        """[(node name, op type, execution provider, mean ms)] of the optimised graph."""
        trace_file = self.session.end_profiling()
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
        # Every run times each node once: the last ``runs`` times follow the warm-up.
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
    profiles = {}
    for path in args.onnx:
        x = make_input(path, args.shape)
        profiles[path] = OpenVINOProfile(path, x, args.precision, args.threads) \
            if args.runtime == 'openvino' else OnnxRuntimeProfile(path, x, args.threads)
    # The files run in turn, one call each per round, so that drifts of the machine's speed
    # hit all of them alike; the wall-clock time of each call is kept too.
    wall = {path: [] for path in args.onnx}
    for i in range(10 + args.runs):
        for path, profile in profiles.items():
            start = time.perf_counter()
            profile.run(record=i >= 10)
            if i >= 10:
                wall[path].append((time.perf_counter() - start) * 1e3)
    results = {}
    for path, profile in profiles.items():
        layers = profile.layers(args.runs)
        results[path] = dict(layers=layers, types=by_type(layers),
                             wall_ms=float(np.median(wall[path])))
        total = sum(layer[-1] for layer in layers)
        print(f'\n{path}: {args.runtime} {args.precision}, {args.threads} threads, '
              f'summed layer time {total:.3f} ms ({len(layers)} layers), median call '
              f'{results[path]["wall_ms"]:.3f} ms (profiling on); slowest layers:')
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
        cells = [f'{c[0]:.3f} ({c[1]})' if c else '-' for c in cells]
        print(f'| {op_type} | ' + ' | '.join(cells) + ' |')
    print('| summed | ' + ' | '.join(f'{sum(c[0] for c in results[p]["types"].values()):.3f}'
                                     for p in args.onnx) + ' |')
    print('| median call | ' + ' | '.join(f'{results[p]["wall_ms"]:.3f}' for p in args.onnx) +
          ' |')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(runtime=args.runtime, precision=args.precision,
                           threads=args.threads, runs=args.runs, results=results), f, indent=1)


if __name__ == '__main__':
    sys.exit(main())
