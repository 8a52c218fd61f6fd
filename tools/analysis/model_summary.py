"""Parameters and FLOPs (multiply-accumulates) of the GhostNetV2 models built from the configs,
next to the paper's Tables 2-8; docs/paper_tables.md has the output and how to read it.

    python tools/analysis/model_summary.py [--tables cls det seg dfc]
"""
import os.path as osp

from ghostv2_mm import GhostNetV2
from ghostv2_mm.apis import build_model
from ghostv2_mm.complexity import count_complexity
from ghostv2_mm.utils import tool_parser

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(ROOT, 'configs')

# name, config, overrides, paper params (M), paper FLOPs (M) at 224x224
CLASSIFIERS = [
    ('GhostNetV2 1.0x', 'mmpretrain/ghostnetv2_1.0x_in1k.py', {}, 6.1, 167),
    ('GhostNetV2 1.3x', 'mmpretrain/ghostnetv2_1.3x_in1k.py', {}, 8.9, 269),
    ('GhostNetV2 1.6x', 'mmpretrain/ghostnetv2_1.6x_in1k.py', {}, 12.3, 399),
    ('GhostNetV1 1.0x', 'mmpretrain/ghostnetv1_1.1x_in1k.py',
     {'model.backbone.widen_factor': 1.0, 'model.head.in_channels': 960}, 5.2, 141),
    ('GhostNetV1 1.1x', 'mmpretrain/ghostnetv1_1.1x_in1k.py', {}, 5.9, 168),
]
# Table 8: name, backbone overrides, paper params (M), paper FLOPs (M)
DFC_POSITIONS = [
    ('baseline (no DFC)', {'dfc_layers': ()}, 5.2, 141),
    ('expressiveness', {'dfc_position': 'expansion'}, 6.1, 167),
    ('capacity', {'dfc_position': 'output'}, 6.1, 162),
    ('both', {'dfc_position': 'both'}, 7.0, 188),
]
# Table 7: stage, paper params (M), paper FLOPs (M); stages are GhostNetV2.paper_stages
DFC_STAGES = [('1', 5.3, 150), ('2', 5.4, 152), ('3', 5.8, 147)]
# Table 6 (accuracy only in the paper): kernel sizes per stage
DFC_KERNELS = [(3, 3, 3), (7, 5, 5), (7, 7, 5), (9, 7, 5), (11, 9, 7)]
# name, {input size: (config, paper backbone FLOPs (M))}
DETECTORS = [
    ('GhostNetV2 1.0x', {320: ('mmdet/yolov3_ghostv2_320.py', 342),
                         416: ('mmdet/yolov3_ghostv2_416.py', 571)}),
    ('GhostNetV1 1.1x', {320: ('mmdet/yolov3_ghostv1-1.1x_320.py', 338),
                         416: ('mmdet/yolov3_ghostv1-1.1x_416.py', 567)}),
    ('MobileNetV2 1.0x', {320: ('mmdet/yolov3_mobilenetv2_320.py', 613),
                          416: ('mmdet/yolov3_mobilenetv2_416.py', 1035)}),
]
# name, config, paper FLOPs (M), overrides that undo the dilation (the ImageNet backbone)
SEGMENTORS = [
    ('GhostNetV2 1.0x', 'mmseg/deeplabv3_ghostv2_ade20k_512.py', 167,
     {'model.backbone.output_stride': 32}),
    ('GhostNetV1 1.1x', 'mmseg/deeplabv3_ghostv1-1.1x_ade20k_512.py', 168,
     {'model.backbone.output_stride': 32}),
    ('MobileNetV2 1.0x', 'mmseg/deeplabv3_mobilenetv2_ade20k_512.py', 300,
     {'model.backbone.strides': (1, 2, 2, 2, 1, 2, 1), 'model.backbone.dilations': (1, ) * 7}),
]


def _classifier_stats(config='mmpretrain/ghostnetv2_1.0x_in1k.py', overrides=None):
    """Parameters and FLOPs (M) of the classifier of ``config`` and of its backbone, at 224."""
    model = build_model(osp.join(CFG, config), overrides)
    cls = count_complexity(model, (3, 224, 224), lambda x: model(x, mode='tensor'))
    bb = count_complexity(model.backbone, (3, 224, 224))
    return {'params (M)': cls['params'] / 1e6, 'FLOPs (M)': cls['macs'] / 1e6,
            'backbone params (M)': bb['params'] / 1e6, 'backbone FLOPs (M)': bb['macs'] / 1e6}


def classifier_rows():
    return [{'model': name, **_classifier_stats(config, overrides),
             'paper params (M)': paper_params, 'paper FLOPs (M)': paper_flops}
            for name, config, overrides, paper_params, paper_flops in CLASSIFIERS]


def _backbone(config, overrides=None):
    return build_model(osp.join(CFG, config), overrides).backbone


def detector_rows():
    rows = []
    for name, sizes in DETECTORS:
        row = {'backbone': name}
        for size, (config, paper) in sizes.items():
            stats = count_complexity(_backbone(config), (3, size, size))
            row[f'FLOPs@{size} (M)'] = stats['macs'] / 1e6
            row[f'paper@{size} (M)'] = paper
        row['params (M)'] = stats['params'] / 1e6
        rows.append(row)
    return rows


def segmentor_rows():
    rows = []
    for name, config, paper, undilated in SEGMENTORS:
        imagenet = count_complexity(_backbone(config, undilated), (3, 224, 224))
        dilated = count_complexity(_backbone(config), (3, 512, 512))
        rows.append({'backbone': name, 'FLOPs@224, stride 32 (M)': imagenet['macs'] / 1e6,
                     'paper (M)': paper, 'FLOPs@512, stride 8 (M)': dilated['macs'] / 1e6,
                     'params (M)': dilated['params'] / 1e6})
    return rows


def dfc_rows():
    """Tables 8, 7 and 6: where DFC attention goes and its kernel sizes."""
    variants = [(8, name, overrides, paper) for name, overrides, *paper in DFC_POSITIONS]
    variants += [(7, f'stage {stage} (bottlenecks {layers[0]}-{layers[-1]})',
                  {'dfc_layers': layers}, paper)
                 for (stage, *paper), layers in zip(DFC_STAGES, GhostNetV2.paper_stages)]
    variants += [(6, f'kernel sizes {kernels}', {'dfc_kernel_sizes': kernels}, ())
                 for kernels in DFC_KERNELS]
    rows = []
    for table, name, backbone, paper in variants:
        stats = _classifier_stats(
            overrides={f'model.backbone.{k}': v for k, v in backbone.items()})
        rows.append({'table': table, 'variant': name, 'params (M)': stats['params (M)'],
                     'FLOPs (M)': stats['FLOPs (M)'],
                     **dict(zip(('paper params (M)', 'paper FLOPs (M)'), paper))})
    return rows


def format_table(rows):
    keys = list(dict.fromkeys(k for r in rows for k in r))
    cells = [keys] + [[
        '' if k not in r else str(r[k]) if k.startswith('paper') else
        f'{r[k]:.3f}' if isinstance(r[k], float) and 'params' in k else
        f'{r[k]:.1f}' if isinstance(r[k], float) else str(r[k]) for k in keys] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(keys))]
    lines = ['  '.join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


TABLES = {
    'cls': ('ImageNet classifiers, 1000 classes, 224x224 (paper Table 2)', classifier_rows),
    'det': ('YOLOv3 backbones (paper Table 3)', detector_rows),
    'seg': ('DeepLabV3 backbones (paper Table 5 quotes the ImageNet models\' FLOPs at 224)',
            segmentor_rows),
    'dfc': ('GhostNetV2 1.0x classifier: DFC on which Ghost module (Table 8), in which stage '
            '(Table 7), with which kernel sizes (Table 6)', dfc_rows),
}


def main():
    parser = tool_parser(__doc__)
    parser.add_argument('--tables', nargs='+', choices=list(TABLES), default=list(TABLES),
                        help='cls: Table 2, det: Table 3, seg: Table 5, dfc: Tables 6-8')
    args = parser.parse_args()
    print('FLOPs are multiply-accumulates of conv and linear layers (mmengine FlopAnalyzer).')
    for name, (title, rows) in TABLES.items():
        if name in args.tables:
            print(f'\n{title}')
            print(format_table(rows()))


if __name__ == '__main__':
    main()
