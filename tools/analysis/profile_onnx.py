"""Per-layer profile of ONNX models in OpenVINO (``PERF_COUNT``) or ONNX Runtime (its profiler),
summed by operator type: where a deployed network spends its time.

    python tools/analysis/profile_onnx.py ONNX [ONNX ...] [--runtime openvino|onnxruntime]
        [--precision fp32|bf16] [--shape H W] [--threads 2] [--runs 50] [--top 15]
        [--out FILE.json]

Each file runs on a random batch-1 input of its static shape (or ``--shape``), 10 warm-up runs
then ``--runs`` profiled ones, the files in turn so that drifts of the machine hit them alike.
OpenVINO reports the layers of its compiled graph (``exec type`` names the kernel; ``ref`` is a
reference implementation), ONNX Runtime the nodes of its optimised graph. The median wall-clock
time of a call (profiling on) minus the summed layer time is the runtime's cost between layers.
"""
import argparse
import collections
import json
import os
import os.path as osp
import tempfile
import time

import numpy as np

WARMUP = 10


def make_input(path, shape=None):
    """A random (1, C, H, W) input: the file's static shape, or ``shape`` (H, W)."""
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
    """One file compiled by OpenVINO (static shape, ``PERF_COUNT``); :meth:`run` infers once and,
    when ``record``, adds each executed layer's time."""

    def __init__(self, path, x, precision, threads):
        from ghostv2_mm.deploy.runtime import openvino_compile
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
    """One file in an ONNX Runtime session with its profiler on."""

    def __init__(self, path, x, threads):
        from ghostv2_mm.deploy.runtime import onnxruntime_session
        self.session = onnxruntime_session(
            path, threads, osp.join(tempfile.mkdtemp(prefix='ort_profile_'), 'p'))
        self.feed = {self.session.get_inputs()[0].name: x}

    def run(self, record):
        self.session.run(None, self.feed)

    def layers(self, runs):
        """[(node name, op type, execution provider, mean ms)] of the optimised graph, from the
        profiler's trace: every run times each node once, the last ``runs`` follow the warm-up."""
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
    args = parser.parse_args()
    if args.runtime == 'onnxruntime' and args.precision != 'fp32':
        raise SystemExit("--precision bf16: ONNX Runtime's CPU execution provider has no bf16 "
                         'kernels; use --runtime openvino')
    profiles = {}
    for path in args.onnx:
        if not osp.isfile(path):
            raise SystemExit(f'ONNX {path} does not exist')
        x = make_input(path, args.shape)
        profiles[path] = OpenVINOProfile(path, x, args.precision, args.threads) \
            if args.runtime == 'openvino' else OnnxRuntimeProfile(path, x, args.threads)
    wall = {path: [] for path in args.onnx}
    for i in range(WARMUP + args.runs):
        for path, profile in profiles.items():
            start = time.perf_counter()
            profile.run(record=i >= WARMUP)
            if i >= WARMUP:
                wall[path].append((time.perf_counter() - start) * 1e3)
    results = {}
    for path, profile in profiles.items():
        layers = profile.layers(args.runs)
        results[path] = dict(layers=layers, types=by_type(layers),
                             wall_ms=float(np.median(wall[path])))
        print(f'\n{path}: {args.runtime} {args.precision}, {args.threads} threads, '
              f'summed layer time {sum(layer[-1] for layer in layers):.3f} ms ({len(layers)} '
              f'layers), median call {results[path]["wall_ms"]:.3f} ms (profiling on); slowest '
              'layers:')
        for name, node_type, exec_type, ms in sorted(layers, key=lambda r: -r[-1])[:args.top]:
            print(f'  {ms:7.3f} ms  {node_type:<16} {exec_type:<24} {name}')

    def row(*cells):
        print('| ' + ' | '.join(cells) + ' |')

    print(f'\nms per op type ({args.runtime} {args.precision}, {args.threads} threads; '
          'count in brackets)')
    row('op type', *(osp.splitext(osp.basename(p))[0] for p in args.onnx))
    row(*['---'] * (len(args.onnx) + 1))
    for op_type in dict.fromkeys(t for r in results.values() for t in r['types']):
        cells = [results[p]['types'].get(op_type) for p in args.onnx]
        row(op_type, *(f'{c[0]:.3f} ({c[1]})' if c else '-' for c in cells))
    row('summed', *(f'{sum(c[0] for c in results[p]["types"].values()):.3f}' for p in args.onnx))
    row('median call', *(f'{results[p]["wall_ms"]:.3f}' for p in args.onnx))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(runtime=args.runtime, precision=args.precision,
                           threads=args.threads, runs=args.runs, results=results), f, indent=1)


if __name__ == '__main__':
    main()
