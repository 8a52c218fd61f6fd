"""Draw the DFC attention maps of GhostNetV2 bottlenecks over an image (paper Figure 6; see
docs/backbone.md): per layer ``layer{i}_horizontal.png`` (after the 1 x k FC, channel mean),
``layer{i}_vertical.png`` (after the k x 1 FC and the gate) and ``layer{i}_full.png`` (for the
pixel, the weights of Eq. 3's full FC layer: the gradient of its attention value with respect to
the DFC input, every position that feeds it).

    python tools/analysis/visualize_dfc.py CONFIG CHECKPOINT IMAGE [--layers 4 9 14]
        [--pixel Y X] [--out-dir DIR]
"""
import os
import os.path as osp

import cv2
import numpy as np
import torch
from mmengine.config import Config

from ghostv2_mm import GhostNetV2
from ghostv2_mm.apis import build_model
from ghostv2_mm.checkpoint import load_weights
from ghostv2_mm.utils import tool_parser
from ghostv2_mm.visualization import dfc_maps, overlay


def preprocess(cfg, image):
    """The BGR ``image`` as the config's data preprocessor gives it, (1, 3, H, W)."""
    pre = cfg.model.get('data_preprocessor', {})
    mean = np.array(pre.get('mean', [123.675, 116.28, 103.53]), np.float32)
    std = np.array(pre.get('std', [58.395, 57.12, 57.375]), np.float32)
    rgb = pre.get('bgr_to_rgb', pre.get('to_rgb', True))
    img = image[..., ::-1] if rgb else image
    x = (img.astype(np.float32) - mean) / std
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def main():
    parser = tool_parser(__doc__)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--layers', type=int, nargs='+', default=[4, 9, 14],
                        help='flat bottleneck indices (0-15) that carry DFC attention')
    parser.add_argument('--pixel', type=int, nargs=2, metavar=('Y', 'X'), default=None,
                        help='image pixel of the full-attention map (default: the centre)')
    parser.add_argument('--out-dir', default='work_dirs/dfc_vis')
    args = parser.parse_args()
    image = cv2.imread(args.image)
    if image is None:
        raise SystemExit(f'cannot read image {args.image}')
    cfg = Config.fromfile(args.config)
    model = build_model(cfg, {'model.backbone.init_cfg': None})
    load_weights(model, args.checkpoint, strict=False)
    backbone = getattr(model.eval(), 'backbone', model)
    if not isinstance(backbone, GhostNetV2):
        raise SystemExit(f'{args.config}: the backbone is {type(backbone).__name__}, '
                         'not GhostNetV2')
    blocks = [b for stage in backbone.blocks[:-1] for b in stage]
    for i in args.layers:
        if not 0 <= i < len(blocks) or blocks[i].ghost1.short_conv is None:
            raise SystemExit(f'--layers: bottleneck {i} has no DFC attention on its first Ghost '
                             f'module; choose among {list(backbone.dfc_layers)}')
    pixel = args.pixel or (image.shape[0] // 2, image.shape[1] // 2)
    rel = (pixel[0] / image.shape[0], pixel[1] / image.shape[1])

    inputs = {}
    hooks = [blocks[i].ghost1.register_forward_hook(
        lambda m, inp, out, i=i: inputs.__setitem__(i, (inp[0].detach(), out.shape[-2:])))
        for i in args.layers]
    with torch.no_grad():
        backbone(preprocess(cfg, image))
    for h in hooks:
        h.remove()

    os.makedirs(args.out_dir, exist_ok=True)
    for i in args.layers:
        x, size = inputs[i]
        maps = dfc_maps(blocks[i].ghost1.short_conv, x, size, rel)
        for name, heat in zip(('horizontal', 'vertical', 'full'), maps):
            path = osp.join(args.out_dir, f'layer{i}_{name}.png')
            cv2.imwrite(path, overlay(image, heat, pixel if name == 'full' else None))
            print(path)


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
