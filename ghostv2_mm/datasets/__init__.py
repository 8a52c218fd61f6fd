from .checks import check_annotations, check_coco, check_seg_maps
from .transforms import CheckSegLabels

__all__ = ['CheckSegLabels', 'check_annotations', 'check_coco', 'check_seg_maps']
