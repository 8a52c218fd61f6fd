"""Generate the shapes datasets (cached outside the repository) and link them under data/.

    python tools/misc/make_shapes.py [cls] [det] [seg]     (default: all three)

data/shapes_cls (ImageNet folders), data/shapes_det (COCO), data/shapes_seg (ADE20K layout) are
what the *_shapes.py configs read.
"""
import argparse
import os
import os.path as osp

from ghostv2_mm import synthetic

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAKERS = {'cls': synthetic.make_classification, 'det': synthetic.make_detection,
          'seg': synthetic.make_segmentation}


def link(kind, data_dir=osp.join(ROOT, 'data')):
    """Generate (or reuse) dataset ``kind`` and point ``data/shapes_<kind>`` at it."""
    if kind not in MAKERS:
        raise ValueError(f'kind must be one of {tuple(MAKERS)}, but received {kind!r}')
    target = MAKERS[kind]()
    os.makedirs(data_dir, exist_ok=True)
    name = osp.join(data_dir, f'shapes_{kind}')
    if osp.islink(name):
        os.remove(name)
    elif osp.exists(name):
        raise SystemExit(f'{name} exists and is not a link; move it away first')
    os.symlink(target, name)
    return name, target


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('kinds', nargs='*', metavar='{cls,det,seg}',
                        help='datasets to make (default: all)')
    for kind in parser.parse_args().kinds or MAKERS:
        name, target = link(kind)
        print(f'{name} -> {target}')


if __name__ == '__main__':
    main()
