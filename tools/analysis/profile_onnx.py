"""Per-layer profile of ONNX files summed by operator type: OpenVINO (``PERF_COUNT``), ONNX
Runtime (its profiler), ncnn (each layer timed alone) or LiteRT (which ops XNNPACK takes: its
Python package has no per-op times). docs/performance.md describes the method.

    python tools/analysis/profile_onnx.py ONNX [ONNX ...]
        [--runtime openvino|onnxruntime|ncnn|litert] [--precision fp32|bf16] [--shape H W]
        [--threads 2] [--runs 50] [--top 15] [--out FILE.json]

The files run in turn on a random batch-1 input, 10 warm-up runs then ``--runs`` profiled ones;
ncnn and LiteRT get each (static) file converted as the deployment does. "median call" minus the
summed layer time is what the runtime spends between layers. OpenVINO counts whole microseconds
and reports a layer whose mean time is under 1 us as not run: such layers are left out.
"""
import collections
import json
import os
import os.path as osp
import tempfile
import time

import numpy as np

WARMUP = 10
# LiteRT's op details name an op XNNPACK took by the partition replacing it.
XNNPACK, TFLITE = 'XNNPACK', 'TFLite kernel'


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


class Profile:
    """One file in its runtime: :meth:`run` calls it, :meth:`record` notes the layer times of the
    last run, :meth:`layers` lists [(layer name, type, where it ran, ms)]."""

    def record(self):
        pass  # ONNX Runtime's profiler times every run; LiteRT has no per-op times


class OpenVINOProfile(Profile):

    def __init__(self, path, args):
        from ghostv2_mm.deploy.runtime import openvino_compile
        self.x = make_input(path, args.shape)
        compiled = openvino_compile(path, args.precision, args.threads, self.x.shape,
                                    perf_count=True)
        self.request = compiled.create_infer_request()
        self.totals = collections.defaultdict(float)
        self.kinds = {}

    def run(self):
        self.request.infer({0: self.x})

    def record(self):
        for info in self.request.profiling_info:
            if info.status == info.Status.EXECUTED:
                self.totals[info.node_name] += info.real_time.total_seconds() * 1e3
                self.kinds[info.node_name] = (info.node_type, info.exec_type)

    def layers(self, runs):
        """The compiled graph's layers, exec type and mean ms."""
        return [(name, *self.kinds[name], t / runs) for name, t in self.totals.items()]


class OnnxRuntimeProfile(Profile):

    def __init__(self, path, args):
        from ghostv2_mm.deploy.runtime import onnxruntime_session
        self.session = onnxruntime_session(
            path, args.threads, osp.join(tempfile.mkdtemp(prefix='ort_profile_'), 'p'))
        self.feed = {self.session.get_inputs()[0].name: make_input(path, args.shape)}

    def run(self):
        self.session.run(None, self.feed)

    def layers(self, runs):
        """The optimised graph's nodes, execution provider and mean ms of the last ``runs``."""
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


class MobileProfile(Profile):
    """The file converted for ``runtime`` (in a temporary directory) and run as deployed."""
    runtime = None

    def __init__(self, path, args):
        from ghostv2_mm.deploy import mobile
        from ghostv2_mm.deploy.runtime import RuntimeModel
        self.tmp = tempfile.TemporaryDirectory(prefix=f'{self.runtime}_profile_')
        converted = mobile.convert_to_ncnn(path, osp.join(self.tmp.name, 'model.param')) \
            if self.runtime == 'ncnn' else \
            mobile.convert_to_litert(path, osp.join(self.tmp.name, 'model.tflite'))
        self.model = RuntimeModel(converted, self.runtime, 'fp32', args.threads)
        self.x = make_input(path)

    def run(self):
        self.model(self.x)


class NcnnProfile(MobileProfile):
    """Each profiled run times every layer alone: its inputs extracted first in the same
    extractor (which keeps them), then its output, less the time of extracting it again (kept by
    then: the copy into the caller's layout). A ``Split`` shows the extraction's own cost."""
    runtime = 'ncnn'

    def __init__(self, path, args):
        super().__init__(path, args)
        with open(self.model.path) as f:  # magic, counts, then: type name #in #out in.. out..
            rows = [line.split() for line in f.read().splitlines()[2:]]
        self.graph = [(row[1], row[0], row[4:4 + int(row[2])], row[4 + int(row[2])])
                      for row in rows if row[0] != 'Input']
        self.times = collections.defaultdict(list)

    def record(self):
        from ghostv2_mm.deploy.runtime import import_ncnn
        mat = import_ncnn().Mat(self.x[0])
        for name, _, bottoms, top in self.graph:
            extractor = self.model.net.create_extractor()
            extractor.set_light_mode(False)  # keep the inputs extracted below
            extractor.input(self.model.io['input']['blob'], mat)
            for bottom in bottoms:
                extractor.extract(bottom)
            start = time.perf_counter()
            extractor.extract(top)
            computed = time.perf_counter()
            extractor.extract(top)
            end = time.perf_counter()
            self.times[name].append(((computed - start) - (end - computed)) * 1e3)

    def layers(self, runs):
        """The ``.param`` file's layers and their median ms."""
        return [(name, kind, 'ncnn', float(np.median(self.times[name])))
                for name, kind, _, _ in self.graph]


class LiteRTProfile(MobileProfile):
    """Which ops the XNNPACK partitions replaced (ms: None)."""
    runtime = 'litert'

    def __init__(self, path, args):
        super().__init__(path, args)
        interpreter = self.model.interpreter
        # The package's only view of the graph: the file's ops, then a DELEGATE per partition.
        ops = interpreter._get_ops_details()
        partitions = [op for op in ops if op['op_name'] == 'DELEGATE']
        self.partitions = len(partitions)
        # An op TFLite runs itself produces a tensor that a partition, the output or another
        # such op reads and no partition writes; the ops come in execution order.
        written = {t for op in partitions for t in op['outputs']}
        read = {t for op in partitions for t in op['inputs']} | \
            {d['index'] for d in interpreter.get_output_details()}
        self.ops = []
        for op in reversed([op for op in ops if op['op_name'] != 'DELEGATE']):
            own = bool(read.intersection(op['outputs'])) and written.isdisjoint(op['outputs'])
            if own:
                read.update(op['inputs'])
            self.ops.insert(0, (f'{op["op_name"]}:{op["index"]}', op['op_name'],
                                TFLITE if own else XNNPACK, None))

    def layers(self, runs):
        return self.ops


PROFILES = dict(openvino=OpenVINOProfile, onnxruntime=OnnxRuntimeProfile, ncnn=NcnnProfile,
                litert=LiteRTProfile)


def by_type(layers):
    """{op type: (ms or None, count)}, slowest (most) first."""
    table = collections.defaultdict(lambda: [0.0, 0])
    for _, node_type, exec_type, ms in layers:
        key = f'{node_type} ({exec_type})' if 'ref' in exec_type or exec_type == TFLITE \
            else node_type
        table[key][0] = None if ms is None else table[key][0] + ms
        table[key][1] += 1
    return dict(sorted(table.items(), key=lambda kv: (-(kv[1][0] or 0), -kv[1][1])))


def describe(runtime, profile, layers, wall_ms):
    """The line that heads a file's profile."""
    if runtime == 'litert':
        own = collections.Counter(kind for _, kind, where, _ in layers if where == TFLITE)
        return (f'{len(layers)} ops, {len(layers) - sum(own.values())} taken by XNNPACK in '
                f'{profile.partitions} partitions, left to TFLite\'s kernels: '
                f'{dict(own) or "none"}; median call {wall_ms:.3f} ms. LiteRT\'s Python package '
                'has no per-op times.')
    text = (f'summed layer time {sum(layer[-1] for layer in layers):.3f} ms ({len(layers)} '
            f'layers), median call {wall_ms:.3f} ms')
    if runtime != 'ncnn':
        return text + ' (profiling on); slowest layers:'
    split = [ms for _, kind, _, ms in layers if kind == 'Split']
    if split:  # a reference copy: what extracting a layer's output costs by itself
        text += f'; a Split takes {np.median(split):.3f} ms, part of every layer\'s figure'
    return text + '; slowest layers (each timed alone):'


def main():
    from ghostv2_mm.utils import tool_parser
    parser = tool_parser(__doc__)
    parser.add_argument('onnx', nargs='+', help='ONNX file(s) with a static input shape')
    parser.add_argument('--runtime', choices=PROFILES, default='openvino')
    parser.add_argument('--precision', choices=('fp32', 'bf16'), default='fp32',
                        help="OpenVINO's inference precision (the others: fp32 only)")
    parser.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'),
                        help='input size for files whose input size is dynamic (not for ncnn '
                        'and LiteRT, which fix it at conversion)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, default=50)
    parser.add_argument('--top', type=int, default=15, help='slowest layers listed per file')
    parser.add_argument('--out', help='write the per-layer and per-type times here (JSON)')
    args = parser.parse_args()
    if args.runtime != 'openvino' and args.precision != 'fp32':
        raise SystemExit(f'--precision bf16: only OpenVINO runs bf16 here, not {args.runtime}')
    if args.runtime in ('ncnn', 'litert') and args.shape:
        raise SystemExit(f'--shape: {args.runtime} fixes the input size at conversion; give a '
                         'static file (export_onnx.py --static)')
    profiles = {}
    for path in args.onnx:
        if not osp.isfile(path):
            raise SystemExit(f'ONNX {path} does not exist')
        profiles[path] = PROFILES[args.runtime](path, args)
    wall = {path: [] for path in args.onnx}
    for i in range(WARMUP + args.runs):
        for path, profile in profiles.items():
            start = time.perf_counter()
            profile.run()
            if i >= WARMUP:
                wall[path].append((time.perf_counter() - start) * 1e3)
                profile.record()
    results = {}
    for path, profile in profiles.items():
        layers = profile.layers(args.runs)
        results[path] = dict(layers=layers, types=by_type(layers),
                             wall_ms=float(np.median(wall[path])))
        if args.runtime == 'litert':
            results[path]['partitions'] = profile.partitions
        print(f'\n{path}: {args.runtime} {args.precision}, {args.threads} threads, '
              + describe(args.runtime, profile, layers, results[path]['wall_ms']))
        if args.runtime != 'litert':
            for name, node_type, exec_type, ms in sorted(layers, key=lambda r: -r[-1])[:args.top]:
                print(f'  {ms:7.3f} ms  {node_type:<16} {exec_type:<24} {name}')

    def row(*cells):
        print('| ' + ' | '.join(cells) + ' |')

    timed = args.runtime != 'litert'
    print(f'\n{"ms per op type" if timed else "ops per type"} ({args.runtime} {args.precision}, '
          f'{args.threads} threads{"; count in brackets" if timed else ""})')
    row('op type', *(osp.splitext(osp.basename(p))[0] for p in args.onnx))
    row(*['---'] * (len(args.onnx) + 1))
    for op_type in dict.fromkeys(t for r in results.values() for t in r['types']):
        cells = [results[p]['types'].get(op_type) for p in args.onnx]
        row(op_type, *((f'{c[0]:.3f} ({c[1]})' if timed else str(c[1])) if c else '-'
                       for c in cells))
    if timed:
        row('summed', *(f'{sum(c[0] for c in results[p]["types"].values()):.3f}'
                        for p in args.onnx))
    else:
        row('XNNPACK partitions', *(str(results[p]['partitions']) for p in args.onnx))
    row('median call', *(f'{results[p]["wall_ms"]:.3f}' for p in args.onnx))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(runtime=args.runtime, precision=args.precision,
                           threads=args.threads, runs=args.runs, results=results), f, indent=1)


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
