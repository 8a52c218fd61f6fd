"""mmdet's SSD head made to predict in mmdet 3.3, whose ``_predict_by_feat_single`` reads
``self.loss_cls``, which ``SSDHead`` never builds ("'SSDHead' object has no attribute 'loss_cls'";
open-mmlab/mmdetection#11305, #11780; unfixed in 3.3.0).
"""
from mmdet.models.dense_heads import SSDHead

from ...registry import register_model


@register_model
class PredictableSSDHead(SSDHead):
    """``SSDHead`` with ``loss_cls = None``, so prediction takes mmdet's softmax branch as it did
    before 3.3. Weights, losses and outputs are ``SSDHead``'s.

    Args:
        **kwargs: Arguments of mmdet's ``SSDHead``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.loss_cls = None
