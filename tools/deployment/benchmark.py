"""Benchmark a trained model in every deployment format, as ``yolo benchmark`` does for
ultralytics: deploy it to each backend and precision, evaluate each on the test set of MODEL_CFG,
time each and print one table (a format that fails is a row with its one-line error). Writes
DIR/benchmark.csv, DIR/benchmark.json and DIR/metric_vs_latency.png; docs/deployment.md
(section 6) has the manual.

    python tools/deployment/benchmark.py MODEL_CFG CHECKPOINT
        [--backends onnxruntime openvino ncnn litert] [--precisions fp32 fp16 bf16 int8]
        [--deploy-cfg-dir configs/mmdeploy] [--work-dir DIR] [--threads 2] [--repeats 20]
        [--warmup 5] [--calib-num 100] [--cfg-options KEY=VALUE ...]
"""
import copy
import csv
import gc
import os
import os.path as osp
import traceback

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METRICS = ('accuracy/top1', 'coco/segm_mAP', 'coco/bbox_mAP', 'mIoU')


def parse_args():
    from ghostv2_mm.deploy.runtime import BACKENDS, PRECISIONS
    from ghostv2_mm.utils import tool_parser
    precisions = sorted({p for names in PRECISIONS.values() for p in names})
    parser = tool_parser(__doc__, 'override model config settings, e.g. data_root=DIR/')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('checkpoint', help='trained checkpoint of the model config')
    parser.add_argument('--backends', nargs='+', choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument('--precisions', nargs='+', choices=precisions, default=precisions,
                        help='precisions, each for the backends that have it')
    parser.add_argument('--deploy-cfg-dir', default=osp.join(ROOT, 'configs', 'mmdeploy'),
                        help='where the deploy configs are looked up')
    parser.add_argument('--work-dir', help='default: work_dirs/deploy_benchmark/<MODEL_CFG name>')
    parser.add_argument('--threads', type=int, default=2, help='threads of the timed runs')
    parser.add_argument('--repeats', type=int, default=20, help='timed rounds')
    parser.add_argument('--warmup', type=int, default=5, help='rounds before timing')
    parser.add_argument('--calib-num', type=int, default=100,
                        help='number of calibration images for int8')
    return parser.parse_args()


def main_metric(metrics):
    """The first of :data:`METRICS` in ``metrics``, else its first number."""
    return next((key for key in METRICS if key in metrics),
                next(k for k, v in metrics.items() if isinstance(v, (int, float))))


def size_mb(files):
    """MB of a deployed model: its file and the weights beside it (``.bin``)."""
    paths = {files[0], osp.splitext(files[0])[0] + '.bin'}
    return sum(osp.getsize(p) for p in paths if osp.isfile(p)) / 2**20


def print_table(rows, metric):
    columns = {'backend': 'backend', 'precision': 'precision', 'file': 'file',
               'size_mb': 'size (MB)', 'value': metric, 'difference': 'difference',
               'ms': 'ms/image', 'speedup': 'speed-up', 'status': 'status'}
    formats = {'size_mb': '{:.2f}', 'value': '{:.4f}', 'difference': '{:+.4f}', 'ms': '{:.2f}',
               'speedup': '{:.2f}x'}
    lines = [list(columns.values())] + [
        ['-' if row[k] is None else formats.get(k, '{}').format(row[k]) for k in columns]
        for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    for line in lines:
        print('  '.join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def plot(rows, metric, path, threads):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from ghostv2_mm.deploy.runtime import BACKENDS
    markers = dict(zip(('pytorch', ) + BACKENDS, '*osD^'))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        if row['ms'] is not None:
            ax.plot(row['ms'], row['value'], markers[row['backend']], markersize=8,
                    label=f'{row["backend"]} {row["precision"]}')
    ax.set_xscale('log')
    ax.set_xlabel(f'latency, batch 1, {threads} threads (ms, log scale)')
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    args = parse_args()
    import mmengine
    import torch
    from mmdeploy.utils import get_input_shape

    from ghostv2_mm.deploy import convert
    from ghostv2_mm.deploy.backends import build_task_processor, build_test_setup, check_files
    from ghostv2_mm.deploy.quantize import dataset_inputs
    from ghostv2_mm.deploy.runtime import PRECISIONS, RuntimeModel, cpu_summary, interleaved
    from ghostv2_mm.engine.runner_setup import check_data
    from ghostv2_mm.errors import DeployError, GhostV2Error

    check_files([('MODEL_CFG', args.model_cfg), ('CHECKPOINT', args.checkpoint)])
    model_cfg = mmengine.Config.fromfile(args.model_cfg)
    model_cfg.merge_from_dict(args.cfg_options or {})
    check_data(model_cfg, ['test_dataloader'])
    formats = [(b, p) for b in args.backends for p in PRECISIONS[b] if p in args.precisions]
    if not formats:
        raise DeployError(f'--precisions {" ".join(args.precisions)}: none is a precision of '
                          f'--backends {" ".join(args.backends)}')
    deploy_cfgs = {}
    for backend in args.backends:
        try:
            deploy_cfgs[backend] = convert.find_deploy_config(model_cfg, backend,
                                                              args.deploy_cfg_dir)
        except DeployError as e:
            deploy_cfgs[backend] = e
    found = [cfg for cfg in deploy_cfgs.values() if isinstance(cfg, str)]
    if not found:
        raise next(iter(deploy_cfgs.values()))
    work_dir = args.work_dir or osp.join(
        'work_dirs', 'deploy_benchmark', osp.splitext(osp.basename(args.model_cfg))[0])
    os.makedirs(work_dir, exist_ok=True)
    torch.set_num_threads(args.threads)

    # PyTorch on the test set with the deployments' pre-processing, and the timing input.
    processor, _, cfg = build_task_processor(copy.deepcopy(model_cfg), found[0])
    loader = dict(cfg.test_dataloader, batch_size=1)
    loader['dataset'] = processor.build_dataset(loader['dataset'])
    dataloader = processor.build_dataloader(loader)
    image = dataloader.dataset.get_data_info(0)['img_path']
    shape = get_input_shape(processor.deploy_cfg)
    (x, ), samples = dataset_inputs(cfg, 'test', 1, shape and tuple(reversed(shape)))
    pytorch = processor.build_pytorch_model(args.checkpoint)
    metrics = convert.evaluate(dict(pytorch=pytorch), dataloader, cfg)[0]
    metric = main_metric(metrics['pytorch'])
    weights = sum(t.numel() * t.element_size() for t in pytorch.state_dict().values())
    rows = {'pytorch': dict(backend='pytorch', precision='fp32', file=args.checkpoint,
                            size_mb=weights / 2**20, value=metrics['pytorch'][metric],
                            difference=0.0, status='ok', deploy_cfg=None)}
    # What is timed: each model with its input (the same image).
    timed = {'pytorch': lambda inputs: pytorch(torch.from_numpy(inputs), samples, mode='predict')}

    for backend, precision in formats:
        name = f'{backend}-{precision}'
        deploy_cfg = deploy_cfgs[backend]
        row = rows[name] = dict(backend=backend, precision=precision, file=None, size_mb=None,
                                value=None, difference=None, status='ok',
                                deploy_cfg=deploy_cfg if isinstance(deploy_cfg, str) else None)
        print(f'[{name}] deploying with {row["deploy_cfg"]} ...', flush=True)
        try:
            if not isinstance(deploy_cfg, str):
                raise deploy_cfg
            _, files, _ = convert.deploy(deploy_cfg, copy.deepcopy(model_cfg), args.checkpoint,
                                         image, osp.join(work_dir, name), precision=precision,
                                         calib_num=args.calib_num)
            row.update(file=osp.relpath(files[0], work_dir), size_mb=size_mb(files))
            _, test_cfg, _, loader, model = build_test_setup(deploy_cfg, args.model_cfg,
                                                             files[:1], args.cfg_options)
            metrics[name] = convert.evaluate(dict(deployed=model), loader,
                                             test_cfg)[0]['deployed']
            model.destroy()
            row.update(value=metrics[name][metric],
                       difference=metrics[name][metric] - rows['pytorch']['value'])
            timed[name] = RuntimeModel(files[0], backend, precision, args.threads)
        except Exception as e:  # a failed format is a row
            message = (str(e).strip().splitlines() or [''])[0]
            if not isinstance(e, GhostV2Error):
                traceback.print_exc()
                message = f'{type(e).__name__}: {message}'
            row['status'] = f'failed: {message}'
            print(f'[{name}] {row["status"]}', flush=True)
        model = None
        gc.collect()

    print(f'timing {", ".join(timed)} ...', flush=True)
    with torch.no_grad():
        seconds = interleaved(timed, x, args.repeats, args.warmup)
    for name, row in rows.items():
        row['ms'] = seconds[name] * 1e3 if name in seconds else None
        row['speedup'] = seconds['pytorch'] / seconds[name] if name in seconds else None
    rows = list(rows.values())

    cpu = cpu_summary()
    print(f'\n{args.model_cfg} on its test set ({len(dataloader.dataset)} images); {cpu}; batch '
          f'1, {args.threads} threads, median of {args.repeats} interleaved rounds; difference to '
          'PyTorch:')
    print_table(rows, metric)
    fields = ['backend', 'precision', 'file', 'size_mb', 'metric', 'value', 'difference', 'ms',
              'speedup', 'status', 'deploy_cfg']
    with open(osp.join(work_dir, 'benchmark.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(dict(row, metric=metric) for row in rows)
    mmengine.dump(dict(model_cfg=args.model_cfg, checkpoint=args.checkpoint, cpu=cpu,
                       threads=args.threads, repeats=args.repeats, warmup=args.warmup,
                       images=len(dataloader.dataset), metric=metric, rows=rows,
                       metrics=metrics), osp.join(work_dir, 'benchmark.json'), indent=1)
    plot(rows, metric, osp.join(work_dir, 'metric_vs_latency.png'), args.threads)
    print(f'wrote benchmark.csv, benchmark.json and metric_vs_latency.png to {work_dir}')


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
