"""Per-layer int8 sensitivity of a deployed model, and its int8/bf16 report; docs/quantization.md
has the manual and the measurements.

    python tools/deployment/quant_sensitivity.py ONNX CONFIG [--backend onnxruntime|openvino]
        [--calib 32] [--val 64] [--groups GROUP ...] [--work-dir DIR]
    python tools/deployment/quant_sensitivity.py ONNX CONFIG --report [--backend ...]
        [--sensitive LAYER ...] [--float-max-side N] [--calib 32] [--val N] [--threads 2]

ONNX is an exported model, CONFIG its config: calibration images from its training set, evaluation
images from its validation set. Sensitivity (default): per structural group
(``ghostv2_mm.deploy.quantize.GROUPS``) the fidelity to the float model with the group alone in
int8 ("only") and with everything but the group in int8 ("exclude"). ``--report``: the metric,
fidelity and latency (each runtime in a process of its own) of fp32, bf16 (OpenVINO) and int8.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import tempfile
import timeit

import numpy as np

from ghostv2_mm.deploy.convert import TASKS
from ghostv2_mm.deploy.quantize import (DEFAULT_SENSITIVE_LAYERS, GROUPS, QUANTIZERS, fidelity,
                                        quantize)
from ghostv2_mm.deploy.runtime import RuntimeModel
from ghostv2_mm.utils import tool_parser


def score_error(task, reference, candidate):
    """Relative L2 error of the classification scores (None for other tasks)."""
    if task != 'classification':
        return None
    r = np.concatenate([o[0] for o in reference])
    c = np.concatenate([o[0] for o in candidate])
    return float(np.linalg.norm(r - c) / max(np.linalg.norm(r), 1e-12))


def evaluate(cfg, task, samples, outputs):
    """The metric of the evaluator of ``cfg`` (a Config) for runtime ``outputs`` (one per sample),
    post-processed as ``python -m ghostv2_mm.deploy.infer`` does."""
    import importlib

    import torch
    from mmengine.registry import DefaultScope

    from ghostv2_mm.deploy.infer import predictions
    scope = cfg.default_scope
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
        evaluator = cfg.val_evaluator
        metric = registry.METRICS.build(evaluator if isinstance(evaluator, dict) else evaluator[0])
        dataset_cfg = cfg.val_dataloader.dataset.copy()
        dataset_cfg.lazy_init = True
        metric.dataset_meta = registry.DATASETS.build(dataset_cfg).metainfo
    if task == 'detection':
        metric.img_ids = [sample.img_id for sample in samples]  # a subset: only its images
    results = []
    for sample, out in zip(samples, outputs):
        if task == 'classification':
            scores = torch.from_numpy(out[0][0]).float()
            results.append(dict(pred_score=scores, pred_label=scores.argmax(0, keepdim=True),
                                gt_label=sample.gt_label))
        elif task == 'detection':
            pred = predictions('Detector', dict(dets=out[0], labels=out[1]), sample.metainfo)
            results.append(dict(img_id=sample.img_id, ori_shape=sample.ori_shape,
                                pred_instances={k: torch.from_numpy(v) for k, v in pred.items()}))
        else:
            seg = predictions('Segmentor', dict(seg=out[0]), sample.metainfo)['sem_seg']
            results.append(dict(pred_sem_seg=dict(data=torch.from_numpy(seg[None])),
                                gt_sem_seg=dict(data=sample.gt_sem_seg.data)))
    metric.process({}, results)
    return metric.evaluate(len(results))


def latency(path, backend, precision, threads, shape, runs=50):
    """Median latency in ms of batch-1 inference, measured in a process of its own."""
    out = subprocess.run(
        [sys.executable, __file__, path, '-', '--backend', backend, '--bench', precision,
         '--threads', str(threads), '--shape', *map(str, shape), '--runs', str(runs)],
        capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bench(args):
    runner = RuntimeModel(args.onnx, args.backend, args.bench, args.threads).run
    x = np.random.default_rng(0).standard_normal((1, 3, *args.shape)).astype(np.float32)
    times = timeit.repeat(lambda: runner(x), number=1, repeat=5 + args.runs)[5:]  # 5 warm-up
    print(f'{np.median(times) * 1e3:.3f}')


def parse_args():
    parser = tool_parser(__doc__)
    parser.add_argument('onnx')
    parser.add_argument('config')
    parser.add_argument('--backend', choices=QUANTIZERS, default='onnxruntime')
    parser.add_argument('--calib', type=int, default=32, help='calibration images')
    parser.add_argument('--val', type=int, help='evaluation images (default: 64 for the '
                        'sensitivity analysis, all for --report)')
    parser.add_argument('--groups', nargs='+', help=f'groups to analyse (default: all of {GROUPS} '
                        'the graph has, but the post-processing)')
    parser.add_argument('--report', action='store_true',
                        help='metric, fidelity and latency of fp32, bf16 and int8')
    parser.add_argument('--sensitive', nargs='*', help='layers kept in float for --report '
                        f'(default per backend: {DEFAULT_SENSITIVE_LAYERS})')
    parser.add_argument('--float-max-side', type=int,
                        help='keep layers on maps of at most this side float (default: the '
                        'package\'s rule per backend; 0 quantises them)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--work-dir', help='where the quantised models and results.json go '
                        '(default: a temporary folder, results not kept)')
    parser.add_argument('--bench', choices=('fp32', 'bf16', 'int8'), help=argparse.SUPPRESS)
    parser.add_argument('--shape', nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument('--runs', type=int, default=50, help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.bench:
        return bench(args)
    import mmengine
    import onnx

    from ghostv2_mm.deploy.quantize import dataset_inputs, layer_groups, name_nodes
    cfg = mmengine.Config.fromfile(args.config)
    task = TASKS[cfg.default_scope]
    float_model = RuntimeModel(args.onnx, args.backend, 'fp32', args.threads)
    hw = float_model.input_shape[2:]
    shape = tuple(hw) if None not in hw else None  # None: dynamic, the images' own size
    num_val = args.val or (None if args.report else 64)
    calib, _ = dataset_inputs(args.config, 'train', args.calib, shape)
    inputs, samples = dataset_inputs(args.config, 'val', num_val, shape)
    shape = shape or inputs[0].shape[-2:]
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='quant_sensitivity_')

    def run(path, precision):
        model = RuntimeModel(path, args.backend, precision, args.threads)
        return [model.run(x) for x in inputs]

    def int8_outputs(sub_dir, **kwargs):
        path = quantize(args.onnx, args.backend, 'int8', calib, osp.join(work_dir, sub_dir),
                        float_max_side=args.float_max_side, **kwargs)['files'][0]
        return path, run(path, 'int8')

    reference = [float_model.run(x) for x in inputs]
    rows = []

    def add_row(outputs, row, **extra):
        rows.append(dict(row, fidelity=fidelity(task, reference, outputs),
                         score_error=score_error(task, reference, outputs), **extra))
        print(json.dumps(rows[-1]), flush=True)

    if args.report:
        for precision in ['fp32', 'int8'] + (['bf16'] if args.backend == 'openvino' else []):
            if precision == 'int8':
                path, outputs = int8_outputs('int8', sensitive_layers=args.sensitive)
            else:
                path = args.onnx
                outputs = run(path, 'bf16') if precision == 'bf16' else reference
            add_row(outputs, dict(precision=precision,
                                  metric=evaluate(cfg, task, samples, outputs)),
                    latency_ms=latency(path, args.backend, precision, args.threads, shape))
    else:
        model = onnx.load(args.onnx)
        name_nodes(model)
        present = {g for g, names in layer_groups(model).items() if names}
        groups = args.groups or [g for g in GROUPS if g in present and g != 'postprocess']
        runs = [('all int8', '-', 'all_int8', dict(sensitive_layers=[])),
                ('default', '-', 'default', dict(sensitive_layers=None))]
        runs += [(group, mode, f'{group}_{mode}', kwargs) for group in groups
                 for mode, kwargs in (('only', dict(quantize_only=[group])),
                                      ('exclude', dict(sensitive_layers=[group])))]
        for group, mode, sub_dir, kwargs in runs:
            add_row(int8_outputs(sub_dir, **kwargs)[1], dict(group=group, mode=mode))
    if args.work_dir:
        mmengine.dump(dict(onnx=args.onnx, config=args.config, backend=args.backend, task=task,
                           calib=args.calib, val=len(inputs), rows=rows),
                      osp.join(work_dir, 'results.json'), indent=1)


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
