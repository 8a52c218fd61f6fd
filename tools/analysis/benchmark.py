"""Latency of GhostNetV2 next to its peers in PyTorch, ONNX Runtime and OpenVINO, each runtime in a
process of its own (thread pools of two runtimes in one process slow each other down).

    python tools/analysis/benchmark.py [--tasks cls det320 det416 seg512]
        [--runtimes eager deploy onnxruntime onnxruntime-int8 openvino-fp32 openvino-bf16
         openvino-int8] [--threads 2] [--repeats 20] [--warmup 5] [--train-batch 32]
        [--out-dir work_dirs/benchmark]

Tasks (batch 1, random weights: speed does not depend on them):
- ``cls``: ImageNet classifiers at 224x224: GhostNetV2 1.0x, GhostNetV1 1.0x and 1.1x (DFC off),
  mmpretrain's MobileNetV2 1.0x and MobileNetV3-Large, timm's ``ghostnetv2_100``;
- ``det320`` / ``det416``: whole YOLOv3 (GhostNetV2 1.0x, MobileNetV2 1.0x) at 320 / 416,
  exported by mmdeploy with NMS inside (``configs/mmdeploy/detection_onnxruntime_static-*``);
- ``seg512``: whole DeepLabV3 at 512x512 (GhostNetV2 1.0x output stride 8, mmseg's
  MobileNetV2-d8), and their backbones alone.
Runtimes: PyTorch eager (training structure) and deploy (``switch_to_deploy``), fp32; ONNX Runtime
fp32 and int8 (``onnxruntime.quantization``); OpenVINO fp32, bf16 (``INFERENCE_PRECISION_HINT``)
and int8 (NNCF). The ONNX files are the ones the deployment tools write for each backend and
precision: the inference structure of GhostNetV2 transformed by its export profile
(``ghostv2_mm.deploy.profiles``), one file per set of transforms, read by the runtimes whose
profile it is (OpenVINO reshaped to the static input). PyTorch's deploy rows run the profile of
``('pytorch', 'fp32')`` (weights channels-last).
PyTorch rows of detectors and segmentors run ``mode='tensor'`` (no NMS, logits not resized).

Within a runtime only one task's models are loaded at a time, and they run interleaved: in each
round (``--repeats`` rounds after ``--warmup``, order shuffled) every model runs ``BLOCK`` + 1
times in a row, the first call not counted, and medians are reported, so drifts of the machine
affect all alike while no model pays for the switch from another. Also measured: training
throughput (forward + backward, images/s, batch ``--train-batch``, 224x224, NCHW and
channels-last). Prints the table and the ratios of
docs/performance.md, writes ``benchmark.csv``, ``benchmark.json`` and
``accuracy_vs_latency.png`` (paper top-1 against latency per runtime, the paper's Figure 2 on
this CPU).
"""
import argparse
import csv
import gc
import json
import os
import os.path as osp
import random
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs')
V2_CLS = osp.join(CFG, 'mmpretrain', 'ghostnetv2_1.0x_in1k.py')
V1_CLS = osp.join(CFG, 'mmpretrain', 'ghostnetv1_1.1x_in1k.py')
V1_10X = {'model.backbone.widen_factor': 1.0, 'model.head.in_channels': 960}
# Paper Table 2 / mmpretrain ImageNet top-1 (%), by network.
TOP1 = {'GhostNetV2 1.0x': 75.3, 'GhostNetV1 1.0x': 73.9, 'GhostNetV1 1.1x': 74.5,
        'MobileNetV2 1.0x': 72.8, 'MobileNetV3-Large': 75.2, 'timm ghostnetv2_100': 75.3}
# task -> model -> (config, overrides); timm's network has no config.
MODELS = {
    'cls': {
        'GhostNetV2 1.0x': (V2_CLS, {}),
        'GhostNetV1 1.0x': (V1_CLS, V1_10X),
        'GhostNetV1 1.1x': (V1_CLS, {}),
        'MobileNetV2 1.0x': ('mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py', {}),
        'MobileNetV3-Large': ('mmpretrain::mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py', {}),
        'timm ghostnetv2_100': (None, {}),
    },
    'det320': {
        'YOLOv3 GhostNetV2 1.0x': (osp.join(CFG, 'mmdet', 'yolov3_ghostv2_320.py'), {}),
        'YOLOv3 MobileNetV2 1.0x': (osp.join(CFG, 'mmdet', 'yolov3_mobilenetv2_320.py'), {}),
    },
    'det416': {
        'YOLOv3 GhostNetV2 1.0x': (osp.join(CFG, 'mmdet', 'yolov3_ghostv2_416.py'), {}),
        'YOLOv3 MobileNetV2 1.0x': (osp.join(CFG, 'mmdet', 'yolov3_mobilenetv2_416.py'), {}),
    },
    'seg512': {
        'DeepLabV3 GhostNetV2 1.0x': (osp.join(CFG, 'mmseg', 'deeplabv3_ghostv2_ade20k_512.py'),
                                      {}),
        'DeepLabV3 MobileNetV2-d8': (osp.join(CFG, 'mmseg', 'deeplabv3_mobilenetv2_ade20k_512.py'),
                                     {}),
        'backbone GhostNetV2 1.0x OS8': (
            osp.join(CFG, 'mmseg', 'deeplabv3_ghostv2_ade20k_512.py'), {}),
        'backbone MobileNetV2-d8': (osp.join(CFG, 'mmseg', 'deeplabv3_mobilenetv2_ade20k_512.py'),
                                    {}),
    },
}
# Calls per model and round (interleaved); the first of each block is not counted.
BLOCK = 5
SIZES = {'cls': 224, 'det320': 320, 'det416': 416, 'seg512': 512}
DEPLOY_CFGS = {'det320': 'detection_{}_static-320x320.py',
               'det416': 'detection_{}_static-416x416.py',
               'seg512': 'segmentation_{}_static-512x512.py'}
RUNTIMES = ('eager', 'deploy', 'onnxruntime', 'onnxruntime-int8', 'openvino-fp32',
            'openvino-bf16', 'openvino-int8')
# The CPU options of mmseg's configs: SyncBN needs a GPU.
CPU_SEG = {'norm_cfg.type': 'BN', 'model.backbone.norm_cfg.type': 'BN',
           'model.decode_head.norm_cfg.type': 'BN', 'model.auxiliary_head.norm_cfg.type': 'BN'}


def build(task, name, profile=None):
    """The PyTorch model ``name`` of ``task`` in eval mode, random weights, and its forward
    (with an export ``profile``: GhostNetV2's inference structure in that profile's forms)."""
    if name.startswith('timm'):
        import timm
        model = timm.create_model('ghostnetv2_100').eval()
        return model, model
    from ghostv2_mm.apis import build_model
    config, overrides = MODELS[task][name]
    if config.startswith('mmpretrain::'):
        from mmengine.hub import get_config
        config = get_config(config)
    options = dict(overrides, **{'model.backbone.init_cfg': None})
    if task == 'seg512':
        options.update(CPU_SEG)
    model = build_model(config, options).eval()
    if profile is not None:
        if hasattr(model.backbone, 'switch_to_deploy'):
            model.backbone.switch_to_deploy()
        model.backbone = profile.apply(model.backbone)
    if name.startswith('backbone'):
        return model, model.backbone
    return model, lambda x: model(x, mode='tensor')


def source(runtime):
    """(backend, precision) of ``runtime`` (``onnxruntime-int8`` -> ('onnxruntime', 'int8');
    PyTorch's ``eager`` and ``deploy`` run fp32)."""
    backend, _, precision = runtime.partition('-')
    return ('pytorch' if backend in ('eager', 'deploy') else backend), precision or 'fp32'


def export_all(tasks, onnx_dir, backend, precision='fp32'):
    """Export every model of ``tasks`` once for ``backend`` and ``precision`` (the inference
    structure in its export profile's forms, as the deployment tools write it; profiles with the
    same transforms share a file); returns task -> name -> ONNX file."""
    import cv2
    import numpy as np
    import torch
    from mmengine.config import Config

    from ghostv2_mm.deploy.convert import export
    from ghostv2_mm.deploy.onnx_export import export_onnx, export_part
    from ghostv2_mm.deploy.profiles import resolve
    profile = resolve(backend, precision, static=True)
    suffix = '_static_' + ('_'.join(profile.module_transforms) or 'plain') + '.onnx'
    files = {}
    for task in tasks:
        os.makedirs(osp.join(onnx_dir, task), exist_ok=True)
        for name in MODELS[task]:
            # Static input, as mmdeploy's static configs deploy (a file exported before is reused:
            # delete the folder after changing the model code).
            path = osp.join(onnx_dir, task, name.replace(' ', '_') + suffix)
            files.setdefault(task, {})[name] = path
            if osp.exists(path):
                continue
            torch.manual_seed(0)
            if task == 'cls' or name.startswith('backbone'):
                model, _ = build(task, name, profile)
                part = 'classifier' if task == 'cls' else 'backbone'
                module = model if name.startswith('timm') else export_part(model, part)
                export_onnx(module, path, part, (SIZES[task], ) * 2, dynamic=False)
                continue
            # Whole detectors and segmentors through mmdeploy, from a random-weights checkpoint.
            work = osp.join(onnx_dir, task, name.replace(' ', '_') + '_' + backend)
            os.makedirs(work, exist_ok=True)
            model, _ = build(task, name)
            ckpt = osp.join(work, 'random.pth')
            torch.save(dict(state_dict=model.state_dict()), ckpt)
            img = osp.join(work, 'image.png')
            cv2.imwrite(img, np.random.RandomState(0).randint(0, 255, (SIZES[task],) * 2 + (3, ),
                                                              dtype=np.uint8))
            config, overrides = MODELS[task][name]
            model_cfg = Config.fromfile(config)
            model_cfg.merge_from_dict(dict(overrides, **(CPU_SEG if task == 'seg512' else {})))
            deploy_cfg = Config.fromfile(osp.join(CFG, 'mmdeploy',
                                                  DEPLOY_CFGS[task].format(backend)))
            export(img, work, deploy_cfg, model_cfg, ckpt, precision=precision)
            os.replace(osp.join(work, 'end2end.onnx'), path)
    return files


def torch_callables(runtime, tasks, threads):
    import torch

    from ghostv2_mm.deploy.profiles import resolve
    torch.set_num_threads(threads)
    fns = {}
    for task in tasks:
        for name in MODELS[task]:
            if runtime == 'deploy' and name.startswith('timm'):
                continue  # timm's network has no inference structure of this project
            profile = resolve('pytorch', 'fp32') if runtime == 'deploy' else None
            _, forward = build(task, name, profile)
            fns.setdefault(task, {})[name] = forward
    return fns


def runtime_callables(runtime, files, threads, calib_dir):
    """Callables of the ONNX files in ONNX Runtime or OpenVINO (int8: quantised first)."""
    import numpy as np

    from ghostv2_mm.deploy.runtime import RuntimeModel
    fns = {}
    backend, precision = source(runtime)
    for task, models in files.items():
        size = SIZES[task]
        for name, path in models.items():
            if runtime.endswith('int8'):
                from ghostv2_mm.deploy.quantize import quantize
                work = osp.join(calib_dir, runtime, task, name.replace(' ', '_'))
                os.makedirs(work, exist_ok=True)
                rng = np.random.RandomState(0)
                calib = [rng.randn(1, 3, size, size).astype(np.float32) for _ in range(4)]
                path = quantize(path, backend, 'int8', calib, work)['files'][0]
            shape = (1, 3, size, size) if backend == 'openvino' else None
            fns.setdefault(task, {})[name] = RuntimeModel(path, backend, precision, threads,
                                                          shape)
    return fns


def interleaved(fns, x, repeats, warmup, block=BLOCK):
    """Median seconds of each callable: ``warmup`` + ``repeats`` rounds, in each of which every
    callable runs ``block`` times in a row (the order of the callables shuffled every round with a
    fixed seed); the first call of a block, which pays for the switch from another model's
    weights and threads, is not counted."""
    times = {name: [] for name in fns}
    order = list(fns)
    rng = random.Random(0)
    for r in range(warmup + repeats):
        rng.shuffle(order)
        for name in order:
            for b in range(block + 1):
                start = time.perf_counter()
                fns[name](x)
                if r >= warmup and b:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def worker(args):
    """One runtime in this process: latency (ms) of every model, written to ``args.result``."""
    with open(args.plan) as f:
        plan = json.load(f)
    runtime, threads = args.worker, plan['threads']
    tasks = plan['tasks']
    if runtime in ('eager', 'deploy'):
        import torch
        callables = lambda task: torch_callables(runtime, [task], threads)  # noqa: E731
        make = lambda size: torch.randn(1, 3, size, size)  # noqa: E731
        context = torch.no_grad()
    else:
        import contextlib

        import numpy as np
        callables = lambda task: runtime_callables(  # noqa: E731
            runtime, {task: plan['files']['-'.join(source(runtime))][task]}, threads,
            plan['calib_dir'])
        make = lambda size: np.random.RandomState(0).randn(1, 3, size, size).astype(  # noqa
            np.float32)
        context = contextlib.nullcontext()
    results = {}
    with context:
        for task in tasks:
            # Only one task's models are loaded at a time: compiled models of other tasks would
            # hold their weights, buffers and thread pools while this task is measured.
            fns = callables(task)[task]
            medians = interleaved(fns, make(SIZES[task]), plan['repeats'], plan['warmup'])
            results[task] = {name: t * 1e3 for name, t in medians.items()}
            del fns
            gc.collect()
    with open(args.result, 'w') as f:
        json.dump(results, f)


def train_throughput(batch, repeats, threads):
    """Images/s of forward + backward at ``batch``x3x224x224 in NCHW and channels-last."""
    import torch
    torch.set_num_threads(threads)
    results = {}
    x = torch.randn(batch, 3, 224, 224)
    for name in ('GhostNetV2 1.0x', 'GhostNetV1 1.0x', 'MobileNetV3-Large'):
        model, _ = build('cls', name)
        for layout in ('NCHW', 'channels-last'):
            fmt = torch.channels_last if layout == 'channels-last' else torch.contiguous_format
            model.to(memory_format=fmt).train()
            inputs = x.contiguous(memory_format=fmt)
            times = []
            for r in range(repeats + 1):
                start = time.perf_counter()
                model(inputs, mode='tensor').sum().backward()
                if r:
                    times.append(time.perf_counter() - start)
            results[f'{name}, {layout}'] = batch / statistics.median(times)
    return results


def ratio(table, runtime, task, a, b):
    row = table.get(runtime, {}).get(task, {})
    return row[a] / row[b] if a in row and b in row else None


def summarise(table):
    """The ratios the performance targets are stated in, per runtime (same precision)."""
    checks = {
        'DFC overhead, GhostNetV2 1.0x / GhostNetV1 1.0x (224)': (
            'cls', 'GhostNetV2 1.0x', 'GhostNetV1 1.0x', 1.15),
        'GhostNetV2 1.0x / MobileNetV3-Large (224)': (
            'cls', 'GhostNetV2 1.0x', 'MobileNetV3-Large', 1.00),
        'GhostNetV2 1.0x / timm ghostnetv2_100 (224)': (
            'cls', 'GhostNetV2 1.0x', 'timm ghostnetv2_100', None),
        'YOLOv3 GhostNetV2 / MobileNetV2, whole with NMS (320)': (
            'det320', 'YOLOv3 GhostNetV2 1.0x', 'YOLOv3 MobileNetV2 1.0x', 0.85),
        'YOLOv3 GhostNetV2 / MobileNetV2, whole with NMS (416)': (
            'det416', 'YOLOv3 GhostNetV2 1.0x', 'YOLOv3 MobileNetV2 1.0x', 0.85),
        'dilated backbone GhostNetV2 OS8 / MobileNetV2-d8 (512)': (
            'seg512', 'backbone GhostNetV2 1.0x OS8', 'backbone MobileNetV2-d8', 0.85),
        'DeepLabV3 GhostNetV2 / MobileNetV2-d8, whole (512)': (
            'seg512', 'DeepLabV3 GhostNetV2 1.0x', 'DeepLabV3 MobileNetV2-d8', None),
    }
    summary = {}
    for label, (task, a, b, target) in checks.items():
        values = {rt: ratio(table, rt, task, a, b) for rt in table}
        summary[label] = dict(target=target, **{rt: v for rt, v in values.items() if v})
    return summary


def plot(table, path, threads):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for runtime, tasks in table.items():
        rows = [(ms, TOP1[name]) for name, ms in tasks.get('cls', {}).items()]
        if not rows:
            continue
        rows.sort()
        ax.plot([r[0] for r in rows], [r[1] for r in rows], 'o', label=f'{runtime} '
                f'({source(runtime)[1]})')
        for name, ms in tasks['cls'].items():
            ax.annotate(name.replace('GhostNet', 'GN'), (ms, TOP1[name]), fontsize=6,
                        xytext=(2, 2), textcoords='offset points')
    ax.set_xscale('log')
    ax.set_xlabel(f'latency, batch 1, 224x224, {threads} threads (ms, log scale)')
    ax.set_ylabel('ImageNet top-1 (%), published')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tasks', nargs='+', choices=list(MODELS), default=list(MODELS))
    parser.add_argument('--runtimes', nargs='+', choices=RUNTIMES, default=list(RUNTIMES))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--train-batch', type=int, default=32,
                        help='batch of the training throughput (0: not measured)')
    parser.add_argument('--train-repeats', type=int, default=3)
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    parser.add_argument('--worker', choices=RUNTIMES + ('train', ), help=argparse.SUPPRESS)
    parser.add_argument('--plan', help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == 'train':
        with open(args.plan) as f:
            plan = json.load(f)
        with open(args.result, 'w') as f:
            json.dump(train_throughput(plan['train_batch'], plan['train_repeats'],
                                       plan['threads']), f)
        return
    if args.worker:
        return worker(args)

    from ghostv2_mm.deploy.runtime import cpu_summary
    out = osp.abspath(args.out_dir)
    os.makedirs(out, exist_ok=True)
    sources = sorted({source(rt) for rt in args.runtimes if rt not in ('eager', 'deploy')})
    files = {f'{backend}-{precision}': export_all(args.tasks, osp.join(out, 'onnx'), backend,
                                                  precision)
             for backend, precision in sources}
    plan = dict(tasks=args.tasks, files=files, threads=args.threads, repeats=args.repeats,
                warmup=args.warmup, calib_dir=osp.join(out, 'int8'),
                train_batch=args.train_batch, train_repeats=args.train_repeats)
    plan_file = osp.join(out, 'plan.json')
    with open(plan_file, 'w') as f:
        json.dump(plan, f)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    table, failures = {}, {}
    workers = list(args.runtimes) + (['train'] if args.train_batch else [])
    for runtime in workers:
        result = osp.join(out, f'{runtime}.json')
        print(f'[{runtime}] measuring in its own process ...', flush=True)
        proc = subprocess.run([sys.executable, osp.abspath(__file__), '--worker', runtime,
                               '--plan', plan_file, '--result', result], env=env,
                              capture_output=True, text=True)
        if proc.returncode:
            failures[runtime] = proc.stderr.strip().splitlines()[-1]
            print(f'[{runtime}] failed: {failures[runtime]}')
            continue
        with open(result) as f:
            table[runtime] = json.load(f)
    train = table.pop('train', None)

    rows = [dict(task=task, model=name, runtime=runtime, precision=source(runtime)[1],
                 threads=args.threads, ms=ms)
            for runtime, tasks in table.items() for task, models in tasks.items()
            for name, ms in models.items()]
    summary = summarise(table)
    cpu = cpu_summary()
    print(f'\n{cpu}; batch 1, {args.threads} threads, median of {args.repeats} interleaved runs '
          '(ms):')
    for task in args.tasks:
        names = list(MODELS[task])
        print(f'\n{task} ({SIZES[task]}x{SIZES[task]})'.ljust(34) + ''.join(
            f'{rt} ({source(rt)[1]})'.rjust(24) for rt in table))
        for name in names:
            print(name.ljust(33) + ''.join(
                (f'{table[rt][task][name]:.2f}' if name in table[rt].get(task, {}) else '-')
                .rjust(24) for rt in table))
    print('\nratios (same runtime and precision on both sides; target in brackets):')
    for label, values in summary.items():
        target = f' [<= {values["target"]:.2f}]' if values['target'] else ''
        measured = [f'{rt} {v:.3f}' for rt, v in values.items() if rt != 'target']
        print(f'  {label}{target}: ' + (', '.join(measured) or 'its task was not run'))
    if train:
        print(f'\ntraining throughput, forward + backward, batch {args.train_batch}, 224x224 '
              '(images/s): ' + ', '.join(f'{k} {v:.1f}' for k, v in train.items()))
    for runtime, reason in failures.items():
        print(f'{runtime}: not measured ({reason})')

    with open(osp.join(out, 'benchmark.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ['task'])
        writer.writeheader()
        writer.writerows(rows)
    with open(osp.join(out, 'benchmark.json'), 'w') as f:
        json.dump(dict(cpu=cpu, threads=args.threads, repeats=args.repeats, rows=rows,
                       ratios=summary, train_images_per_s=train, failures=failures), f,
                  indent=2)
    if 'cls' in args.tasks:
        plot(table, osp.join(out, 'accuracy_vs_latency.png'), args.threads)
    if failures:
        sys.exit(f'runtimes that failed: {", ".join(failures)}')


if __name__ == '__main__':
    from ghostv2_mm.errors import GhostV2Error
    try:
        main()
    except GhostV2Error as e:
        raise SystemExit(str(e))
