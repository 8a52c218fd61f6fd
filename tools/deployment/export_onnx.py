"""Export a GhostNetV2 classifier or multi-scale backbone to ONNX and check it with onnxruntime
(docs/deployment.md).

    python tools/deployment/export_onnx.py CONFIG [--checkpoint CKPT] [--part classifier|backbone]
        [--out FILE] [--shape H W] [--static] [options]

The graph maps the normalised image to the logits or the backbone's ``out_indices`` features,
with the backbone's inference structure in the export profile of ``--backend`` and
``--precision`` (``ghostv2_mm.deploy.profiles``). Without ``--checkpoint`` the weights are random
(with randomised BN statistics). ONNX Runtime's outputs are compared with PyTorch's on two random
inputs of every ``--check-shapes`` size; the tool fails when a difference exceeds ``--tolerance``
or 1% of the outputs' input-dependent scale.
"""
import os
import os.path as osp
import sys

from ghostv2_mm.utils import tool_parser


def parse_args():
    parser = tool_parser(__doc__, 'override config settings, e.g. '
                         'model.backbone.out_indices="(2,4)"')
    parser.add_argument('config')
    parser.add_argument('--checkpoint', help='weights to load (default: random weights; a deploy '
                        'checkpoint loads with --cfg-options model.backbone.deploy=True)')
    parser.add_argument('--part', choices=['classifier', 'backbone'],
                        help='what to export (default: classifier for mmpretrain configs, '
                        'backbone otherwise)')
    parser.add_argument('--out', help='ONNX file (default: work_dirs/onnx/<config>_<part>.onnx)')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='input size used for tracing')
    parser.add_argument('--static', action='store_true',
                        help='fix the input to batch 1 and --shape')
    parser.add_argument('--check-shapes', type=int, nargs='+', metavar='N H W',
                        help='(batch, height, width) triples to compare at (default: 1x224x224, '
                        '2x224x224, 1x256x352 and 1x97x131; with --static: 1 x --shape)')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest allowed absolute difference to PyTorch')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--no-deploy', action='store_true',
                        help='export without folding BN into the convs')
    parser.add_argument('--backend', choices=['onnxruntime', 'openvino'], default='onnxruntime',
                        help='the runtime whose export profile shapes the file')
    parser.add_argument('--precision', choices=['fp32', 'int8', 'bf16'], default='fp32',
                        help='the precision whose export profile shapes the file (int8: the file '
                        'that is quantised)')
    args = parser.parse_args()
    from ghostv2_mm.deploy.runtime import check_precision
    try:
        check_precision(args.backend, args.precision, '--precision')
    except ValueError as e:
        parser.error(str(e))
    if args.static and args.check_shapes and args.check_shapes != [1, *args.shape]:
        parser.error(f'--check-shapes {" ".join(map(str, args.check_shapes))}: a --static file '
                     f'takes only 1 {args.shape[0]} {args.shape[1]} (batch 1 and --shape)')
    if args.check_shapes is None:
        args.check_shapes = [1, *args.shape] if args.static else \
            [1, 224, 224, 2, 224, 224, 1, 256, 352, 1, 97, 131]
    if len(args.check_shapes) % 3:
        parser.error(f'--check-shapes takes (batch, height, width) triples, but received '
                     f'{len(args.check_shapes)} numbers')
    return args


def main():
    args = parse_args()
    import copy

    from ghostv2_mm.apis import init_model
    from ghostv2_mm.deploy.onnx_export import (compare_onnx, export_onnx, export_part,
                                               randomize_for_check)
    from ghostv2_mm.deploy.profiles import resolve
    from ghostv2_mm.deploy.runtime import RuntimeModel

    model = init_model(args.config, args.checkpoint, args.cfg_options)
    if args.checkpoint is None:
        randomize_for_check(model)
    part = args.part or ('classifier' if hasattr(model, 'head') else 'backbone')
    reference = export_part(model, part)
    exported = model
    if not args.no_deploy and hasattr(model.backbone, 'switch_to_deploy'):
        exported = copy.deepcopy(model)  # the reference keeps the training structure
        exported.backbone.switch_to_deploy()
        profile = resolve(args.backend, args.precision, static=args.static)
        exported.backbone = profile.apply(exported.backbone)
    out = args.out or osp.join('work_dirs', 'onnx', f'{osp.splitext(osp.basename(args.config))[0]}'
                               f'_{part}.onnx')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    names = export_onnx(export_part(exported, part), out, part, tuple(args.shape), args.opset,
                        dynamic=not args.static)
    size = f'static 1x3x{args.shape[0]}x{args.shape[1]}' if args.static else 'dynamic sizes'
    print(f'exported {part} of {args.config} to {out} ({size}; outputs: {", ".join(names)}); '
          'onnx.checker: ok')

    shapes = [tuple(args.check_shapes[i:i + 3]) for i in range(0, len(args.check_shapes), 3)]
    worst = relative = 0.
    for shape, diff, scale in compare_onnx(reference, RuntimeModel(out, 'onnxruntime'), shapes):
        print(f'input {shape[0]}x3x{shape[1]}x{shape[2]}: max abs difference to PyTorch '
              f'{diff:.2e}, input-dependent scale of the outputs {scale:.2e}')
        worst, relative = max(worst, diff), max(relative, diff / max(scale, 1e-30))
    if worst > args.tolerance:
        sys.exit(f'onnxruntime differs from PyTorch by {worst:.2e} > --tolerance '
                 f'{args.tolerance:.0e}')
    if relative > 1e-2:
        sys.exit(f'onnxruntime differs from PyTorch by {relative:.1e} of the outputs\' '
                 'input-dependent scale (> 1e-2): the comparison cannot tell the export from a '
                 'constant')
    print(f'onnxruntime matches PyTorch within {args.tolerance:.0e} and {relative:.0e} of the '
          'outputs\' input-dependent scale')


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
