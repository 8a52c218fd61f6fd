"""Generate the shapes datasets (cached outside the repository) and link them under data/,
where the *_shapes.py configs read them: data/shapes_cls (ImageNet folders), data/shapes_det
(COCO), data/shapes_seg (ADE20K layout)."""
import argparse

from ghostv2_mm.synthetic import MAKERS, link


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('kinds', nargs='*', metavar='{cls,det,seg}',
                        help='datasets to make (default: all)')
    for kind in parser.parse_args().kinds or MAKERS:
        name, target = link(kind)
        print(f'{name} -> {target}')


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
