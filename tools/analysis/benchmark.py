"""Latency of GhostNetV2 next to its peers (MODELS) in PyTorch, ONNX Runtime, OpenVINO, ncnn and
LiteRT (these two: classifiers and bare backbones), batch 1, random weights, each runtime in a
process of its own, and its training throughput. Writes ``benchmark.csv``, ``benchmark.json`` and
``accuracy_vs_latency.png``; docs/performance.md describes the method.

    python tools/analysis/benchmark.py [--tasks TASK ...] [--runtimes RUNTIME ...] [--threads 2]
        [--repeats 20] [--warmup 5] [--train-batch 32] [--out-dir work_dirs/benchmark]
"""
import argparse
import contextlib
import csv
import gc
import os
import os.path as osp
import subprocess
import sys

import mmengine
import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs')
# Paper Table 2 / mmpretrain ImageNet top-1 (%), by network.
TOP1 = {'GhostNetV2 1.0x': 75.3, 'GhostNetV1 1.0x': 73.9, 'GhostNetV1 1.1x': 74.5,
        'MobileNetV2 1.0x': 72.8, 'MobileNetV3-Large': 75.2, 'timm ghostnetv2_100': 75.3}
# task -> model -> config (under configs/, or mmpretrain's); timm's network has no config.
MODELS = {
    'cls': {
        'GhostNetV2 1.0x': 'mmpretrain/ghostnetv2_1.0x_in1k.py',
        'GhostNetV1 1.0x': 'mmpretrain/ghostnetv1_1.1x_in1k.py',
        'GhostNetV1 1.1x': 'mmpretrain/ghostnetv1_1.1x_in1k.py',
        'MobileNetV2 1.0x': 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
        'MobileNetV3-Large': 'mmpretrain::mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py',
        'timm ghostnetv2_100': None,
    },
    **{f'det{size}': {
        'YOLOv3 GhostNetV2 1.0x': f'mmdet/yolov3_ghostv2_{size}.py',
        'YOLOv3 MobileNetV2 1.0x': f'mmdet/yolov3_mobilenetv2_{size}.py',
    } for size in (320, 416)},
    'seg512': {
        'DeepLabV3 GhostNetV2 1.0x': 'mmseg/deeplabv3_ghostv2_ade20k_512.py',
        'DeepLabV3 MobileNetV2-d8': 'mmseg/deeplabv3_mobilenetv2_ade20k_512.py',
        'backbone GhostNetV2 1.0x OS8': 'mmseg/deeplabv3_ghostv2_ade20k_512.py',
        'backbone MobileNetV2-d8': 'mmseg/deeplabv3_mobilenetv2_ade20k_512.py',
    },
    # The light heads beside their stock twins (configs/mmdet/README.md, configs/mmseg/README.md).
    'rtmdet640': {
        'RTMDet-tiny GhostNetV2 1.0x': 'mmdet/rtmdet_tiny_ghostv2_640.py',
        'RTMDet-tiny CSPNeXt-tiny': 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
    },
    'ssdlite320': {
        'SSDLite GhostNetV2 1.0x': 'mmdet/ssdlite_ghostv2_320.py',
        'SSDLite MobileNetV2': 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py',
    },
    'lraspp512x1024': {
        'LRASPP GhostNetV2 1.0x': 'mmseg/lraspp_ghostv2_cityscapes_512x1024.py',
        'LRASPP MobileNetV3-Large': 'mmseg::mobilenet_v3/'
                                    'mobilenet-v3-d8_lraspp_4xb4-320k_cityscapes-512x1024.py',
    },
}
OVERRIDES = {'GhostNetV1 1.0x': {'model.backbone.widen_factor': 1.0,
                                 'model.head.in_channels': 960}}
# The CPU options of mmseg's configs: SyncBN needs a GPU.
CPU_SEG = {'norm_cfg.type': 'BN', 'model.backbone.norm_cfg.type': 'BN',
           'model.decode_head.norm_cfg.type': 'BN', 'model.auxiliary_head.norm_cfg.type': 'BN'}
CPU_NORM = {'seg512': CPU_SEG, 'lraspp512x1024': {
    k: v for k, v in CPU_SEG.items() if 'auxiliary' not in k}}
# Input (H, W) per task.
SIZES = {'cls': (224, 224), 'det320': (320, 320), 'det416': (416, 416), 'seg512': (512, 512),
         'rtmdet640': (640, 640), 'ssdlite320': (320, 320), 'lraspp512x1024': (512, 1024)}
DEPLOY_CFGS = {'det320': 'detection_{}_static-320x320.py',
               'det416': 'detection_{}_static-416x416.py',
               'seg512': 'segmentation_{}_static-512x512.py',
               'rtmdet640': 'detection-rtmdet_{}_static-640x640.py',
               'ssdlite320': 'detection-ssdlite_{}_static-320x320.py',
               'lraspp512x1024': 'segmentation-lraspp_{}_static-512x1024.py'}
RUNTIMES = ('eager', 'deploy', 'onnxruntime', 'onnxruntime-int8', 'openvino-fp32',
            'openvino-bf16', 'openvino-int8', 'ncnn', 'ncnn-fp16', 'litert', 'litert-int8')
# Backends that convert the static ONNX file (ghostv2_mm.deploy.mobile): classifiers, backbones.
MOBILE = ('ncnn', 'litert')
# The ratios the performance targets are stated in: label -> (task, model, model, target).
CHECKS = {
    'DFC overhead, GhostNetV2 1.0x / GhostNetV1 1.0x (224)': (
        'cls', 'GhostNetV2 1.0x', 'GhostNetV1 1.0x', 1.15),
    'GhostNetV2 1.0x / MobileNetV3-Large (224)': (
        'cls', 'GhostNetV2 1.0x', 'MobileNetV3-Large', 1.00),
    'GhostNetV2 1.0x / timm ghostnetv2_100 (224)': (
        'cls', 'GhostNetV2 1.0x', 'timm ghostnetv2_100', None),
    **{f'YOLOv3 GhostNetV2 / MobileNetV2, whole with NMS ({size})': (
        f'det{size}', 'YOLOv3 GhostNetV2 1.0x', 'YOLOv3 MobileNetV2 1.0x', 0.85)
       for size in (320, 416)},
    'dilated backbone GhostNetV2 OS8 / MobileNetV2-d8 (512)': (
        'seg512', 'backbone GhostNetV2 1.0x OS8', 'backbone MobileNetV2-d8', 0.85),
    'DeepLabV3 GhostNetV2 / MobileNetV2-d8, whole (512)': (
        'seg512', 'DeepLabV3 GhostNetV2 1.0x', 'DeepLabV3 MobileNetV2-d8', None),
    'RTMDet-tiny GhostNetV2 / CSPNeXt-tiny, whole with NMS (640)': (
        'rtmdet640', 'RTMDet-tiny GhostNetV2 1.0x', 'RTMDet-tiny CSPNeXt-tiny', 1.00),
    'SSDLite GhostNetV2 / MobileNetV2, whole with NMS (320)': (
        'ssdlite320', 'SSDLite GhostNetV2 1.0x', 'SSDLite MobileNetV2', 1.00),
    'LRASPP GhostNetV2 / MobileNetV3-Large, whole (512x1024)': (
        'lraspp512x1024', 'LRASPP GhostNetV2 1.0x', 'LRASPP MobileNetV3-Large', 1.00),
}


def model_config(task, name):
    """The config of model ``name`` of ``task`` with its overrides (mmseg's on a CPU)."""
    from mmengine.hub import get_config
    path = MODELS[task][name]
    cfg = get_config(path) if '::' in path else mmengine.Config.fromfile(osp.join(CFG, path))
    cfg.merge_from_dict(dict(OVERRIDES.get(name, {}), **CPU_NORM.get(task, {})))
    return cfg


def build(task, name, profile=None):
    """The PyTorch model in eval mode, random weights, and its forward (``mode='tensor'``; with an
    export ``profile``: the inference structure in that profile's forms)."""
    if name.startswith('timm'):
        import timm
        model = timm.create_model('ghostnetv2_100').eval()
        return model, model
    from ghostv2_mm.apis import build_model
    model = build_model(model_config(task, name), {'model.backbone.init_cfg': None}).eval()
    if profile is not None:
        if hasattr(model.backbone, 'switch_to_deploy'):
            model.backbone.switch_to_deploy()
        model.backbone = profile.apply(model.backbone)
    if name.startswith('backbone'):
        return model, model.backbone
    return model, lambda x: model(x, mode='tensor')


def source(runtime):
    """``onnxruntime-int8`` -> ('onnxruntime', 'int8'); ``eager`` -> ('pytorch', 'fp32')."""
    backend, _, precision = runtime.partition('-')
    return ('pytorch' if backend in ('eager', 'deploy') else backend), precision or 'fp32'


def random_inputs(shape, num):
    rng = np.random.RandomState(0)
    return [rng.randn(*shape).astype(np.float32) for _ in range(num)]


def export_all(tasks, onnx_dir, backend, precision='fp32'):
    """Export every model of ``tasks`` once for ``backend`` and ``precision``, as the deployment
    tools write it (a file exported before is reused: delete the folder after changing the model
    code); returns task -> name -> file."""
    import cv2
    import torch

    from ghostv2_mm.deploy.convert import export
    from ghostv2_mm.deploy.onnx_export import export_onnx, export_part
    from ghostv2_mm.deploy.profiles import resolve
    profile = resolve(backend, precision, static=True)
    # Static input, as mmdeploy's static configs; profiles with the same transforms share a file.
    suffix = '_static_' + ('_'.join(profile.module_transforms) or 'plain') + '.onnx'
    files = {}
    for task in tasks:
        os.makedirs(osp.join(onnx_dir, task), exist_ok=True)
        for name in MODELS[task]:
            part = 'classifier' if task == 'cls' else 'backbone' \
                if name.startswith('backbone') else None
            if backend in MOBILE and part is None:
                continue  # whole models: tools/deployment/deploy.py (docs/mobile.md)
            stem = osp.join(onnx_dir, task, name.replace(' ', '_'))
            onnx_file = stem + suffix
            if not osp.exists(onnx_file):
                torch.manual_seed(0)
                if part is not None:
                    model, _ = build(task, name, profile)
                    module = model if name.startswith('timm') else export_part(model, part)
                    export_onnx(module, onnx_file, part, SIZES[task], dynamic=False)
                else:  # whole detectors and segmentors through mmdeploy, random weights
                    work = f'{stem}_{backend}'
                    os.makedirs(work, exist_ok=True)
                    ckpt, img = osp.join(work, 'random.pth'), osp.join(work, 'image.png')
                    torch.save(dict(state_dict=build(task, name)[0].state_dict()), ckpt)
                    cv2.imwrite(img, np.random.RandomState(0).randint(
                        0, 255, SIZES[task] + (3, ), dtype=np.uint8))
                    deploy_cfg = osp.join(CFG, 'mmdeploy', DEPLOY_CFGS[task].format(backend))
                    os.replace(export(img, work, deploy_cfg, model_config(task, name), ckpt,
                                      precision=precision), onnx_file)
            files.setdefault(task, {})[name] = convert_mobile(
                onnx_file, backend, precision, SIZES[task]) if backend in MOBILE else onnx_file
    return files


def convert_mobile(onnx_file, backend, precision, size):
    """``onnx_file`` converted once for ncnn (``.param``) or LiteRT (``.tflite``; int8 calibrated
    on 4 random inputs, as the other backends' int8 here)."""
    from ghostv2_mm.deploy import mobile
    stem = f'{osp.splitext(onnx_file)[0]}.{backend}-{precision}'
    if backend == 'ncnn':
        if not osp.exists(stem + '.param'):
            mobile.convert_to_ncnn(onnx_file, stem + '.param', fp16=precision == 'fp16')
        return stem + '.param'
    if not osp.exists(stem + '.tflite'):
        calib = random_inputs((1, 3, *size), 4) if precision == 'int8' else None
        mobile.convert_to_litert(onnx_file, stem + '.tflite', precision, calib)
    return stem + '.tflite'


def callables(runtime, task, plan):
    """Forwards of the models of ``task`` in ``runtime`` (``deploy``: the inference structure,
    which timm's network lacks; int8: quantised first), and an input."""
    backend, precision = source(runtime)
    shape = (1, 3, *SIZES[task])
    if backend == 'pytorch':
        import torch

        from ghostv2_mm.deploy.profiles import resolve
        torch.set_num_threads(plan['threads'])
        profile = resolve('pytorch', 'fp32') if runtime == 'deploy' else None
        return {name: build(task, name, profile)[1] for name in MODELS[task]
                if profile is None or not name.startswith('timm')}, torch.randn(*shape)
    from ghostv2_mm.deploy.runtime import RuntimeModel
    fns = {}
    for name, path in plan['files'][f'{backend}-{precision}'][task].items():
        if precision == 'int8' and backend not in MOBILE:  # LiteRT's int8 file is converted
            from ghostv2_mm.deploy.quantize import quantize
            work = osp.join(plan['calib_dir'], runtime, task, name.replace(' ', '_'))
            os.makedirs(work, exist_ok=True)
            path = quantize(path, backend, 'int8', random_inputs(shape, 4), work)['files'][0]
        fns[name] = RuntimeModel(path, backend, precision, plan['threads'],
                                 shape if backend == 'openvino' else None)
    return fns, random_inputs(shape, 1)[0]


def worker(runtime, plan):
    """Latency (ms) of every model of the plan's tasks in ``runtime`` (``train``: the training
    throughput)."""
    if runtime == 'train':
        return train_throughput(plan['train_batch'], plan['train_repeats'], plan['threads'])
    pytorch = runtime in ('eager', 'deploy')
    if pytorch:
        import torch
    results = {}
    from ghostv2_mm.deploy.runtime import interleaved
    with torch.no_grad() if pytorch else contextlib.nullcontext():
        for task in plan['tasks']:
            # Only one task's models are loaded at a time: compiled models of other tasks would
            # hold their weights, buffers and thread pools while this task is measured.
            fns, x = callables(runtime, task, plan)
            medians = interleaved(fns, x, plan['repeats'], plan['warmup'])
            results[task] = {name: t * 1e3 for name, t in medians.items()}
            del fns
            gc.collect()
    return results


def train_throughput(batch, repeats, threads):
    """Images/s of forward + backward at ``batch``x3x224x224, NCHW and channels-last."""
    import torch

    from ghostv2_mm.deploy.runtime import interleaved
    torch.set_num_threads(threads)
    results = {}
    x = torch.randn(batch, 3, 224, 224)
    for name in ('GhostNetV2 1.0x', 'GhostNetV1 1.0x', 'MobileNetV3-Large'):
        model, _ = build('cls', name)
        for layout in ('NCHW', 'channels-last'):
            fmt = torch.channels_last if layout == 'channels-last' else torch.contiguous_format
            model.to(memory_format=fmt).train()
            step = {layout: lambda inputs: model(inputs, mode='tensor').sum().backward()}
            seconds = interleaved(step, x.contiguous(memory_format=fmt), 1, 0, block=repeats)
            results[f'{name}, {layout}'] = batch / seconds[layout]
    return results


def summarise(table):
    """Each ratio of :data:`CHECKS` with its target, per runtime that measured both models."""
    summary = {}
    for label, (task, a, b, target) in CHECKS.items():
        summary[label] = dict(target=target)
        for runtime, tasks in table.items():
            row = tasks.get(task, {})
            if a in row and b in row:
                summary[label][runtime] = row[a] / row[b]
    return summary


def plot(table, path, threads):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for runtime, tasks in table.items():
        rows = sorted((ms, TOP1[name]) for name, ms in tasks.get('cls', {}).items())
        if not rows:
            continue
        ax.plot(*zip(*rows), 'o', label=f'{runtime} ({source(runtime)[1]})')
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
    from ghostv2_mm.utils import tool_parser
    parser = tool_parser(__doc__)
    parser.add_argument('--tasks', nargs='+', choices=list(MODELS), default=list(MODELS))
    parser.add_argument('--runtimes', nargs='+', choices=RUNTIMES, default=list(RUNTIMES))
    for flag, default in (('--threads', 2), ('--repeats', 20), ('--warmup', 5)):
        parser.add_argument(flag, type=int, default=default)
    parser.add_argument('--train-batch', type=int, default=32,
                        help='batch of the training throughput (0: not measured)')
    parser.add_argument('--train-repeats', type=int, default=3)
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    parser.add_argument('--worker', choices=RUNTIMES + ('train', ), help=argparse.SUPPRESS)
    parser.add_argument('--plan', help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mmengine.dump(worker(args.worker, mmengine.load(args.plan)), args.result)
        return

    from ghostv2_mm.deploy.runtime import cpu_summary
    out = osp.abspath(args.out_dir)
    os.makedirs(out, exist_ok=True)
    sources = sorted({source(rt) for rt in args.runtimes if rt not in ('eager', 'deploy')})
    files = {f'{backend}-{precision}': export_all(args.tasks, osp.join(out, 'onnx'), backend,
                                                  precision)
             for backend, precision in sources}
    plan = dict(vars(args), files=files, calib_dir=osp.join(out, 'int8'))
    plan_file = osp.join(out, 'plan.json')
    mmengine.dump(plan, plan_file)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    table, failures = {}, {}
    for runtime in list(args.runtimes) + (['train'] if args.train_batch else []):
        result = osp.join(out, f'{runtime}.json')
        print(f'[{runtime}] measuring in its own process ...', flush=True)
        proc = subprocess.run([sys.executable, osp.abspath(__file__), '--worker', runtime,
                               '--plan', plan_file, '--result', result], env=env,
                              capture_output=True, text=True)
        if proc.returncode:
            failures[runtime] = proc.stderr.strip().splitlines()[-1]
            print(f'[{runtime}] failed: {failures[runtime]}')
            continue
        table[runtime] = mmengine.load(result)
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
        print(f'\n{task} ({SIZES[task][0]}x{SIZES[task][1]})'.ljust(34) + ''.join(
            f'{rt} ({source(rt)[1]})'.rjust(24) for rt in table))
        for name in MODELS[task]:
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
    mmengine.dump(dict(cpu=cpu, threads=args.threads, repeats=args.repeats, rows=rows,
                       ratios=summary, train_images_per_s=train, failures=failures),
                  osp.join(out, 'benchmark.json'), indent=2)
    if 'cls' in args.tasks:
        plot(table, osp.join(out, 'accuracy_vs_latency.png'), args.threads)
    if failures:
        sys.exit(f'runtimes that failed: {", ".join(failures)}')


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
