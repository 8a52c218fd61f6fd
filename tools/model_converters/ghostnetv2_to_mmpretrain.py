"""Convert an official GhostNetV2 checkpoint (``ck_ghostnetv2_10.pth.tar``, ``_13``, ``_16``) or a
timm ``ghostnetv2_*`` state dict into an mmpretrain checkpoint for configs/mmpretrain/.

    python tools/model_converters/ghostnetv2_to_mmpretrain.py SRC DST [--widen-factor 1.0]
"""
import argparse
import sys

import torch

from ghostv2_mm.checkpoint import convert_to_mmpretrain


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='official or timm checkpoint')
    parser.add_argument('dst', help='output mmpretrain checkpoint (.pth)')
    parser.add_argument('--widen-factor', type=float, default=None,
                        help='fail unless the checkpoint has this width (1.0, 1.3 or 1.6)')
    args = parser.parse_args(argv)
    try:
        checkpoint = torch.load(args.src, map_location='cpu')
        result = convert_to_mmpretrain(checkpoint, args.widen_factor)
    except Exception as e:  # any load or format error becomes a one-line message
        sys.exit(f'error: cannot convert {args.src}: {e}')
    torch.save(result, args.dst)
    arch = result['meta']['arch']
    print(f'saved {args.dst}: GhostNetV2 {arch["widen_factor"]}x, '
          f'{len(arch["dfc_layers"])} bottlenecks with DFC, {len(result["state_dict"])} tensors')


if __name__ == '__main__':
    main()
