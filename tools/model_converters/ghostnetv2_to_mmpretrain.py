"""Convert an official GhostNetV2 checkpoint (``ck_ghostnetv2_10.pth.tar``, ``_13``, ``_16``) or a
timm ``ghostnetv2_*`` state dict (``.pth``/``.pth.tar`` or ``.safetensors``) into an mmpretrain
checkpoint for configs/mmpretrain/, loaded without running code from it (``ghostv2_mm.checkpoint``).

    python tools/model_converters/ghostnetv2_to_mmpretrain.py SRC DST [--widen-factor 1.0]
        [--trust-checkpoint]
"""
import os
import sys

from ghostv2_mm.checkpoint import TRUST_ENV, convert_to_mmpretrain, load_checkpoint_file
from ghostv2_mm.engine import atomic_torch_save
from ghostv2_mm.utils import tool_parser


def main():
    parser = tool_parser(__doc__)
    parser.add_argument('src', help='official or timm checkpoint')
    parser.add_argument('dst', help='output mmpretrain checkpoint (.pth)')
    parser.add_argument('--widen-factor', type=float, default=None,
                        help='fail unless the checkpoint has this width (1.0, 1.3 or 1.6)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='load SRC with plain torch.load (only for a file you trust)')
    args = parser.parse_args()
    if args.trust_checkpoint:
        os.environ[TRUST_ENV] = '1'
    try:
        result = convert_to_mmpretrain(load_checkpoint_file(args.src), args.widen_factor)
    except Exception as e:  # any load or format error (named) becomes a one-line message
        sys.exit(f'error: cannot convert {args.src}: {e}')
    atomic_torch_save(result, args.dst)  # a kill leaves no partial file under DST
    arch = result['meta']['arch']
    print(f'saved {args.dst}: GhostNetV2 {arch["widen_factor"]}x, '
          f'{len(arch["dfc_layers"])} bottlenecks with DFC, {len(result["state_dict"])} tensors')


if __name__ == '__main__':
    main()
