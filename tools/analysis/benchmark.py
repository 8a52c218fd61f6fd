"""CPU latency of GhostNetV2 next to its peers, measured side by side in one run.

    python tools/analysis/benchmark.py [--threads 2] [--repeats 30] [--out-dir work_dirs/benchmark]

Models are run interleaved (one forward of each in a shuffled order per round, ``--repeats`` rounds
after ``--warmup`` rounds) and the median is reported, so drifts of the machine affect all of them
alike. Weights
are random (speed does not depend on them). Reported:
- batch-1 latency of the ImageNet classifiers at 224x224 and of their backbones at 320 and 416;
- GhostNetV2 1.0x and GhostNetV1 1.0x (the same network with DFC off) each in eager mode, in
  deploy mode (``switch_to_deploy``: the inference structure, BN folded, channels-last) and
  exported to ONNX and run by onnxruntime (``ghostv2_mm.deploy.onnx_export``, same thread count,
  no spinning);
  GhostNetV1 1.1x, mmpretrain's MobileNetV2 1.0x and MobileNetV3-Large, timm's
  ``ghostnetv2_100`` as timm builds it and converted to channels-last;
- ratios to GhostNetV2 (eager), the DFC overhead (GhostNetV2 1.0x / GhostNetV1 1.0x) in each
  mode, and training throughput (images/s, forward + backward at batch 8, 224x224) of the
  trainable models;
- where the DFC time goes: each PyTorch op of the DFC branches of GhostNetV2 1.0x (deploy, 224)
  timed alone on the inputs it gets in the network.
Writes ``benchmark.csv``, ``benchmark.json``, ``accuracy_vs_latency.png`` (paper's ImageNet top-1
against the measured classifier latency, as in the paper's Figure 2) and the ONNX files (``onnx/``).
"""
import argparse
import csv
import json
import os
import os.path as osp
import random
import statistics
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
V2_CFG = osp.join(ROOT, 'configs', 'mmpretrain', 'ghostnetv2_1.0x_in1k.py')
V1_CFG = osp.join(ROOT, 'configs', 'mmpretrain', 'ghostnetv1_1.1x_in1k.py')
# Paper Table 2 ImageNet top-1 (%), by network.
TOP1 = {'GhostNetV2 1.0x': 75.3, 'GhostNetV1 1.0x': 73.9, 'GhostNetV1 1.1x': 74.5,
        'MobileNetV2 1.0x': 72.8, 'MobileNetV3-Large': 75.2, 'timm ghostnetv2_100': 75.3}
V1_10X = {'model.backbone.widen_factor': 1.0, 'model.head.in_channels': 960}


def build_models(onnx_dir):
    """name -> (classifier forward, backbone forward, module or None) as callables on an image
    batch. ``module`` is the trainable model (None for inference-only variants)."""
    import timm
    from mmengine.hub import get_config
    from mmpretrain.registry import MODELS

    from ghostv2_mm.apis import build_model
    from ghostv2_mm.deploy.onnx_export import export_onnx, export_part, onnx_session
    models = {}

    def mm(model, trainable=True):
        model.eval()
        return (lambda x: model(x, mode='tensor'), lambda x: model.backbone(x),
                model if trainable else None)

    def ort(model, name):
        fns = []
        for part in ('classifier', 'backbone'):
            path = osp.join(onnx_dir, f'{name}_{part}.onnx'.replace(' ', '_'))
            export_onnx(export_part(model, part), path, part)
            session = onnx_session(path, torch.get_num_threads())
            fns.append(lambda x, session=session: session.run(None, {'input': x.numpy()}))
        return (*fns, None)

    for name, cfg, overrides in (('GhostNetV2 1.0x', V2_CFG, {}),
                                 ('GhostNetV1 1.0x', V1_CFG, V1_10X)):
        models[name] = mm(build_model(cfg, overrides))
        deploy = build_model(cfg, overrides).eval()
        deploy.backbone.switch_to_deploy()
        models[f'{name} deploy'] = mm(deploy, trainable=False)
        # The file tools/deployment/export_onnx.py writes: exported after switch_to_deploy.
        models[f'{name} ONNX Runtime'] = ort(deploy, name)
    models['GhostNetV1 1.1x'] = mm(build_model(V1_CFG))
    for name, cfg in (('MobileNetV2 1.0x', 'mobilenet_v2/mobilenet-v2_8xb32_in1k.py'),
                      ('MobileNetV3-Large', 'mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py')):
        models[name] = mm(MODELS.build(get_config(f'mmpretrain::{cfg}').model))
    ref = timm.create_model('ghostnetv2_100').eval()
    models['timm ghostnetv2_100'] = (ref, ref.forward_features, ref)
    ref_cl = timm.create_model('ghostnetv2_100').eval().to(memory_format=torch.channels_last)
    models['timm ghostnetv2_100 channels-last'] = (
        lambda x: ref_cl(x.contiguous(memory_format=torch.channels_last)),
        lambda x: ref_cl.forward_features(x.contiguous(memory_format=torch.channels_last)), None)
    return models


def interleaved(fns, x, repeats, warmup):
    """Median seconds of each callable, calling them in turn ``repeats`` times.

    The order is shuffled every round (seeded): a model can run slower right after some others
    (here, after a channels-last model), so a fixed order would favour the models that happen to
    follow benign ones."""
    times = {name: [] for name in fns}
    order = list(fns)
    rng = random.Random(0)
    with torch.no_grad():
        for r in range(warmup + repeats):
            rng.shuffle(order)
            for name in order:
                fn = fns[name]
                start = time.perf_counter()
                fn(x)
                if r >= warmup:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def dfc_breakdown(calls, size=224):
    """Milliseconds per forward that each PyTorch op of the DFC branches of GhostNetV2 1.0x in
    deploy mode takes at ``size``, each run alone (``calls`` times) on the inputs it gets in the
    network, summed over the branches."""
    from ghostv2_mm.apis import build_model
    from ghostv2_mm.models.layers import GhostModule
    from ghostv2_mm.models.layers.dfc_attention import downsample, upsample
    model = build_model(V2_CFG).eval()
    model.backbone.switch_to_deploy()
    seen = []
    hooks = [m.register_forward_hook(lambda m, args, out: seen.append((m.short_conv, args[0], out)))
             for m in model.modules() if isinstance(m, GhostModule) and m.short_conv is not None]
    with torch.no_grad():
        model(torch.randn(1, 3, size, size), mode='tensor')
    for hook in hooks:
        hook.remove()
    totals = {}
    with torch.no_grad():
        for attn, x, out in seen:
            pooled = downsample(x, attn.down_mode)
            projected = attn.proj(pooled)
            logits = attn.fc_v(attn.fc_h(projected))
            gate = torch.sigmoid(logits)
            size = out.shape[-2:]
            steps = {'pooling': lambda: downsample(x, attn.down_mode),
                     '1x1 conv': lambda: attn.proj(pooled),
                     'FCs': lambda: attn.fc_v(attn.fc_h(projected)),
                     'sigmoid': lambda: torch.sigmoid(logits),
                     'gate multiply': lambda: out * upsample(gate, size, attn.up_mode)}
            for name, fn in steps.items():
                fn()
                start = time.perf_counter()
                for _ in range(calls):
                    fn()
                totals[name] = totals.get(name, 0.) + (time.perf_counter() - start) / calls * 1e3
    return len(seen), totals


def train_throughput(models, repeats, batch=8):
    results = {}
    x = torch.randn(batch, 3, 224, 224)
    for name, (cls, _, module) in models.items():
        if module is None:
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
    os.makedirs(osp.join(args.out_dir, 'onnx'), exist_ok=True)
    models = build_models(osp.join(args.out_dir, 'onnx'))
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

    def ms(name):
        return rows[name]['classifier@224 (ms)']

    for row in rows.values():
        row['ratio to GhostNetV2'] = ms(row['model']) / ms('GhostNetV2 1.0x')
        network = row['model']
        for suffix in (' deploy', ' ONNX Runtime', ' channels-last'):
            network = network.replace(suffix, '')
        row['paper top-1 (%)'] = TOP1[network]
    modes = {'eager': ('', ''), 'deploy': (' deploy', ' deploy'),
             'onnxruntime': (' ONNX Runtime', ' ONNX Runtime')}
    summary = {
        'threads': torch.get_num_threads(),
        'dfc_overhead': {mode: ms(f'GhostNetV2 1.0x{v2}') / ms(f'GhostNetV1 1.0x{v1}')
                         for mode, (v2, v1) in modes.items()},
        'eager_over_timm': ms('GhostNetV2 1.0x') / ms('timm ghostnetv2_100'),
        'deploy_over_timm': ms('GhostNetV2 1.0x deploy') / ms('timm ghostnetv2_100'),
        'onnxruntime_over_eager': ms('GhostNetV2 1.0x ONNX Runtime') / ms('GhostNetV2 1.0x'),
        'rows': list(rows.values()),
    }

    keys = list(dict.fromkeys(k for r in rows.values() for k in r))
    cells = [keys] + [[f'{row[k]:.2f}' if isinstance(row.get(k), float) else str(row.get(k, ''))
                       for k in keys] for row in rows.values()]
    widths = [max(len(line[i]) for line in cells) for i in range(len(keys))]
    for line in cells:
        print('  '.join(c.rjust(w) for c, w in zip(line, widths)))
    print('Ratios at 224 (targets in brackets):')
    print('  DFC overhead, GhostNetV2 1.0x / GhostNetV1 1.0x (<= 1.20): ' + ', '.join(
        f'{mode} {ratio:.3f}' for mode, ratio in summary['dfc_overhead'].items()))
    print(f"  GhostNetV2 / timm ghostnetv2_100: eager {summary['eager_over_timm']:.3f} (<= 1.0), "
          f"deploy {summary['deploy_over_timm']:.3f} (<= 0.9)")
    print(f"  GhostNetV2 onnxruntime / eager PyTorch: {summary['onnxruntime_over_eager']:.3f} "
          '(<= 0.8)')
    branches, steps = dfc_breakdown(calls=max(args.repeats, 1) * 5)
    summary['dfc_steps_ms'] = steps
    print(f'The {branches} DFC branches of GhostNetV2 1.0x deploy at 224, each op alone (ms per '
          'forward): ' + ', '.join(f'{k} {v:.2f}' for k, v in steps.items()) +
          f'; sum {sum(steps.values()):.2f}. Between the deploy-mode networks with and without '
          f"DFC: {ms('GhostNetV2 1.0x deploy') - ms('GhostNetV1 1.0x deploy'):.2f}")

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
