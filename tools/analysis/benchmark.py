"""CPU latency of GhostNetV2 next to its peers, measured side by side in one run.

    python tools/analysis/benchmark.py [--threads 2] [--repeats 30] [--out-dir work_dirs/benchmark]

Models are run interleaved (one forward of each in turn, ``--repeats`` rounds after ``--warmup``
rounds) and the median is reported, so drifts of the machine affect all of them alike. Weights
are random (speed does not depend on them). Reported:
- batch-1 latency of the ImageNet classifiers at 224x224 and of their backbones at 320 and 416;
- GhostNetV2 in eager and deploy mode (``switch_to_deploy``: BN folded), GhostNetV1 1.0x and 1.1x
  (DFC off), mmpretrain's MobileNetV2 1.0x and MobileNetV3-Large, timm's ``ghostnetv2_100``;
- ratios to GhostNetV2 (eager), the DFC overhead (GhostNetV2 1.0x / GhostNetV1 1.0x), and
  training throughput (images/s, forward + backward at batch 8, 224x224).
Writes ``benchmark.csv``, ``benchmark.json`` and ``accuracy_vs_latency.png`` (paper's ImageNet
top-1 against the measured classifier latency, as in the paper's Figure 2).
"""
import argparse
import csv
import json
import os
import os.path as osp
import statistics
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
V2_CFG = osp.join(ROOT, 'configs', 'mmpretrain', 'ghostnetv2_1.0x_in1k.py')
V1_CFG = osp.join(ROOT, 'configs', 'mmpretrain', 'ghostnetv1_1.1x_in1k.py')
# Paper Table 2 ImageNet top-1 (%).
TOP1 = {'GhostNetV2 1.0x': 75.3, 'GhostNetV2 1.0x deploy': 75.3, 'GhostNetV1 1.0x': 73.9,
        'GhostNetV1 1.1x': 74.5, 'MobileNetV2 1.0x': 72.8, 'MobileNetV3-Large': 75.2,
        'timm ghostnetv2_100': 75.3}


def build_models():
    """name -> (classifier forward, backbone forward) as callables on an image batch."""
    import timm
    from mmengine.hub import get_config

    from ghostv2_mm.complexity import build_model
    models = {}

    def mm(model):
        model.eval()
        return (lambda x: model(x, mode='tensor'), lambda x: model.backbone(x), model)

    models['GhostNetV2 1.0x'] = mm(build_model(V2_CFG))
    deploy = build_model(V2_CFG).eval()
    deploy.backbone.switch_to_deploy()
    models['GhostNetV2 1.0x deploy'] = mm(deploy)
    models['GhostNetV1 1.0x'] = mm(build_model(V1_CFG, {'model.backbone.widen_factor': 1.0,
                                                        'model.head.in_channels': 960}))
    models['GhostNetV1 1.1x'] = mm(build_model(V1_CFG))
    for name, cfg in (('MobileNetV2 1.0x', 'mobilenet_v2/mobilenet-v2_8xb32_in1k.py'),
                      ('MobileNetV3-Large', 'mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py')):
        from mmpretrain.registry import MODELS
        models[name] = mm(MODELS.build(get_config(f'mmpretrain::{cfg}').model))
    ref = timm.create_model('ghostnetv2_100').eval()
    models['timm ghostnetv2_100'] = (ref, ref.forward_features, ref)
    return models


def interleaved(fns, x, repeats, warmup):
    """Median seconds of each callable, calling them in turn ``repeats`` times."""
    times = {name: [] for name in fns}
    with torch.no_grad():
        for r in range(warmup + repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn(x)
                if r >= warmup:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def train_throughput(models, repeats, batch=8):
    results = {}
    x = torch.randn(batch, 3, 224, 224)
    for name, (cls, _, module) in models.items():
        if 'deploy' in name:
            continue  # inference only
        module.train()
        times = []
        for r in range(repeats + 1):
            start = time.perf_counter()
            cls(x).sum().backward()
            if r:
                times.append(time.perf_counter() - start)
        module.eval()
        results[name] = batch / statistics.median(times)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--train-repeats', type=int, default=5)
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1, '
          f'median of {args.repeats} interleaved runs after {args.warmup} warm-up rounds')
    models = build_models()
    rows = {name: {'model': name} for name in models}
    columns = [('classifier@224 (ms)', 0, 224), ('backbone@320 (ms)', 1, 320),
               ('backbone@416 (ms)', 1, 416)]
    for column, which, size in columns:
        fns = {name: fns[which] for name, fns in models.items()}
        medians = interleaved(fns, torch.randn(1, 3, size, size), args.repeats, args.warmup)
        for name, t in medians.items():
            rows[name][column] = t * 1e3
    if args.train_repeats:
        for name, ips in train_throughput(models, args.train_repeats).items():
            rows[name]['train images/s'] = ips
    ref = rows['GhostNetV2 1.0x']
    for row in rows.values():
        row['ratio to GhostNetV2'] = row['classifier@224 (ms)'] / ref['classifier@224 (ms)']
        row['paper top-1 (%)'] = TOP1[row['model']]
    summary = {
        'threads': torch.get_num_threads(),
        'dfc_overhead': ref['classifier@224 (ms)'] / rows['GhostNetV1 1.0x']['classifier@224 (ms)'],
        'deploy_over_timm': rows['GhostNetV2 1.0x deploy']['classifier@224 (ms)'] /
        rows['timm ghostnetv2_100']['classifier@224 (ms)'],
        'eager_over_timm': ref['classifier@224 (ms)'] /
        rows['timm ghostnetv2_100']['classifier@224 (ms)'],
        'rows': list(rows.values()),
    }

    keys = list(dict.fromkeys(k for r in rows.values() for k in r))
    cells = [keys] + [[f'{row[k]:.2f}' if isinstance(row.get(k), float) else str(row.get(k, ''))
                       for k in keys] for row in rows.values()]
    widths = [max(len(line[i]) for line in cells) for i in range(len(keys))]
    for line in cells:
        print('  '.join(c.rjust(w) for c, w in zip(line, widths)))
    print(f"DFC overhead (GhostNetV2 1.0x / GhostNetV1 1.0x): {summary['dfc_overhead']:.3f}")
    print(f"GhostNetV2 / timm ghostnetv2_100: eager {summary['eager_over_timm']:.3f}, "
          f"deploy {summary['deploy_over_timm']:.3f}")

    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'benchmark.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows.values())
    with open(osp.join(args.out_dir, 'benchmark.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    plot(rows.values(), osp.join(args.out_dir, 'accuracy_vs_latency.png'), summary['threads'])


def plot(rows, path, threads):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, row in enumerate(rows):
        ax.scatter(row['classifier@224 (ms)'], row['paper top-1 (%)'])
        # Staggered labels: several implementations share the same accuracy.
        ax.annotate(row['model'], (row['classifier@224 (ms)'], row['paper top-1 (%)']),
                    fontsize=7, xytext=(3, 3 - 9 * (i % 3)), textcoords='offset points')
    ax.set_xlabel(f'CPU latency, batch 1, 224x224, {threads} threads (ms)')
    ax.set_ylabel('ImageNet top-1 (%), paper')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == '__main__':
    main()
