"""Generate the shapes datasets (cached outside the repository) and link them under data/,
where the *_shapes.py configs read them: data/shapes_cls (ImageNet folders), data/shapes_det
(COCO), data/shapes_seg (ADE20K layout)."""
from ghostv2_mm.synthetic import MAKERS, link
from ghostv2_mm.utils import tool_parser


def main():
    parser = tool_parser(__doc__)
    parser.add_argument('kinds', nargs='*', metavar='{cls,det,seg}',
                        help='datasets to make (default: all)')
    for kind in parser.parse_args().kinds or MAKERS:
        print('%s -> %s' % link(kind))


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
