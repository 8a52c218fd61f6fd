import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Fail with a clear message, not an index error deep inside the loss, on a label map value
    outside ``[0, num_classes)`` other than ``ignore_index`` (after ``reduce_zero_label``).

    Args:
        num_classes (int): Number of classes of the model.
        ignore_index (int): The "ignore" label. Defaults to 255.
    """

    def __init__(self, num_classes, ignore_index=255):
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results):
        values = np.unique(results['gt_seg_map'])
        bad = values[(values >= self.num_classes) & (values != self.ignore_index)]
        if bad.size:
            raise ValueError(
                f'label map {results.get("seg_map_path")} has values {bad.tolist()} outside '
                f'0..{self.num_classes - 1} (ignore: {self.ignore_index}, after '
                f'reduce_zero_label={results.get("reduce_zero_label")}); relabel them, or use 0 '
                'for "unlabelled" pixels')
        return results
