"""Parameters and FLOPs (multiply-accumulates, the paper's convention) of the GhostNetV2 ImageNet
classifiers and of their backbones, next to the paper's Table 2.

    python tools/analysis/model_summary.py [--backbone-sizes 224 320 416]
"""
import argparse
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG_DIR = osp.join(ROOT, 'configs', 'mmpretrain')

# name, config, overrides, paper params (M), paper FLOPs (M) at 224x224
MODELS = [
    ('GhostNetV2 1.0x', 'ghostnetv2_1.0x_in1k.py', {}, 6.1, 167),
    ('GhostNetV2 1.3x', 'ghostnetv2_1.3x_in1k.py', {}, 8.9, 269),
    ('GhostNetV2 1.6x', 'ghostnetv2_1.6x_in1k.py', {}, 12.3, 399),
    ('GhostNetV1 1.0x', 'ghostnetv1_1.1x_in1k.py',
     {'model.backbone.widen_factor': 1.0, 'model.head.in_channels': 960}, 5.2, 141),
    ('GhostNetV1 1.1x', 'ghostnetv1_1.1x_in1k.py', {}, 5.9, 168),
]


def summarize(backbone_sizes=(224, )):
    from ghostv2_mm.complexity import build_model, count_complexity
    rows = []
    for name, config, overrides, paper_params, paper_flops in MODELS:
        model = build_model(osp.join(CFG_DIR, config), overrides)
        cls = count_complexity(model, (3, 224, 224), lambda x, m=model: m(x, mode='tensor'))
        row = dict(model=name, params_m=cls['params'] / 1e6, flops_m=cls['macs'] / 1e6,
                   paper_params_m=paper_params, paper_flops_m=paper_flops)
        for size in backbone_sizes:
            bb = count_complexity(model.backbone, (3, size, size))
            row['backbone_params_m'] = bb['params'] / 1e6
            row[f'backbone_flops_m@{size}'] = bb['macs'] / 1e6
        rows.append(row)
    return rows


def format_table(rows):
    keys = list(rows[0])
    cells = [[k for k in keys]] + [[
        str(r[k]) if k.startswith('paper') else
        f'{r[k]:.3f}' if isinstance(r[k], float) and 'params' in k else
        f'{r[k]:.1f}' if isinstance(r[k], float) else str(r[k]) for k in keys] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(keys))]
    lines = ['  '.join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--backbone-sizes', type=int, nargs='+', default=[224],
                        help='square input sizes at which to count the backbone alone')
    args = parser.parse_args()
    print('ImageNet classifiers (1000 classes, 224x224) and their backbones. FLOPs are '
          'multiply-accumulates of conv and linear layers, counted by mmengine FlopAnalyzer.')
    print(format_table(summarize(tuple(args.backbone_sizes))))


if __name__ == '__main__':
    main()
