"""Convert a trained checkpoint into a deploy checkpoint (the backbone's inference structure:
BN folded, DFC attention as plain convs), as mmpretrain's tool of this name does; OUT loads into
CONFIG with ``--cfg-options model.backbone.deploy=True`` (docs/configs.md).

    python tools/model_converters/reparameterize_model.py CONFIG CHECKPOINT OUT [--shape H W]
"""
import sys

from ghostv2_mm.apis import reparameterize_checkpoint
from ghostv2_mm.utils import tool_parser


def main():
    parser = tool_parser(__doc__, 'override config settings')
    parser.add_argument('config', help='config of the trained model')
    parser.add_argument('checkpoint', help='trained checkpoint')
    parser.add_argument('out', help='deploy checkpoint to write')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='input size of the check')
    parser.add_argument('--tolerance', type=float, default=1e-5,
                        help='largest difference of OUT, loaded into a deploy model, to the '
                        'trained model on a random input, relative to the largest output')
    args = parser.parse_args()
    diff = reparameterize_checkpoint(args.config, args.checkpoint, args.out, args.cfg_options,
                                     check_shape=tuple(args.shape))
    print(f'saved {args.out}; loaded with model.backbone.deploy=True it differs from the trained '
          f'model by {diff:.1e} (relative, {args.shape[0]}x{args.shape[1]} input)')
    if diff > args.tolerance:
        sys.exit(f'error: the deploy checkpoint differs by {diff:.1e} > --tolerance '
                 f'{args.tolerance:.0e}')


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
