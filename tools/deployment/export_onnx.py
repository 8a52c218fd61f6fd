"""Export a GhostNetV2 classifier or multi-scale backbone to ONNX and check it with onnxruntime.

    python tools/deployment/export_onnx.py CONFIG [--checkpoint CKPT] [--part classifier|backbone]
        [--out FILE] [--shape H W] [--static] [--check-shapes N H W [N H W ...]]
        [--tolerance 1e-4] [--opset 17] [--no-deploy] [--pad-channels 16]
        [--cfg-options KEY=VALUE ...]

CONFIG is any mmpretrain/mmdet/mmseg config of this project. ``--part classifier`` (the default
for mmpretrain configs) exports image -> logits, ``--part backbone`` (the default otherwise)
image -> the backbone's ``out_indices`` features; batch, height and width are dynamic, or, with
``--static``, fixed to 1 and ``--shape`` (as mmdeploy's static configs deploy; ONNX Runtime then
folds the size arithmetic of the DFC gates' resizing when it loads the file; compared at that
shape only). The
input is the normalised image tensor (the data preprocessor's mean/std and BGR->RGB are not part
of the graph). Unless ``--no-deploy``, the backbone's inference structure is exported
(``switch_to_deploy``; a deploy checkpoint of ``tools/model_converters/reparameterize_model.py``
loads with ``--cfg-options model.backbone.deploy=True``), with each Ghost module's channels
padded to multiples of ``--pad-channels`` (default 16: exact, and the layout ONNX Runtime's fast
CPU kernels need; OpenVINO runs the unpadded file faster, ``--pad-channels 0``; see
docs/performance.md). The file is
checked with ``onnx.checker``, then onnxruntime's outputs are compared with the PyTorch model's
(before any folding) at every ``--check-shapes`` size (by default 1x224x224, 2x224x224 and the
non-square 1x256x352 and 1x97x131); the tool fails when a difference exceeds ``--tolerance``.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--checkpoint', help='weights to load (default: random weights)')
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
    parser.add_argument('--pad-channels', type=int, default=16,
                        help='pad Ghost modules\' channels to multiples of this in the inference '
                        'structure (0: no padding, the faster file for OpenVINO)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.backbone.out_indices="(2,4)"')
    args = parser.parse_args()
    if args.pad_channels == 1 or args.pad_channels < 0:
        parser.error(f'--pad-channels must be 0 (no padding) or >= 2, but received '
                     f'{args.pad_channels}')
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
    from ghostv2_mm.deploy.onnx_export import compare_onnx, export_onnx, export_part, onnx_session

    model = init_model(args.config, args.checkpoint, args.cfg_options)
    part = args.part or ('classifier' if hasattr(model, 'head') else 'backbone')
    reference = export_part(model, part)
    exported = model
    if not args.no_deploy and hasattr(model.backbone, 'switch_to_deploy'):
        exported = copy.deepcopy(model)  # the reference keeps the training structure
        if not exported.backbone.deploy:
            exported.backbone.pad_channels = args.pad_channels or None
        exported.backbone.switch_to_deploy()
    out = args.out or osp.join('work_dirs', 'onnx', f'{osp.splitext(osp.basename(args.config))[0]}'
                               f'_{part}.onnx')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    names = export_onnx(export_part(exported, part), out, part, tuple(args.shape), args.opset,
                        dynamic=not args.static)
    size = f'static 1x3x{args.shape[0]}x{args.shape[1]}' if args.static else 'dynamic sizes'
    print(f'exported {part} of {args.config} to {out} ({size}; outputs: {", ".join(names)}); '
          'onnx.checker: ok')

    shapes = [tuple(args.check_shapes[i:i + 3]) for i in range(0, len(args.check_shapes), 3)]
    worst = 0.
    for shape, diff in compare_onnx(reference, onnx_session(out), shapes):
        print(f'input {shape[0]}x3x{shape[1]}x{shape[2]}: max abs difference to PyTorch '
              f'{diff:.2e}')
        worst = max(worst, diff)
    if worst > args.tolerance:
        sys.exit(f'onnxruntime differs from PyTorch by {worst:.2e} > --tolerance '
                 f'{args.tolerance:.0e}')
    print(f'onnxruntime matches PyTorch within {args.tolerance:.0e}')


if __name__ == '__main__':
    main()
