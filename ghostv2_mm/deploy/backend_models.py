"""mmdeploy backend models (``codebase_config.model_type``) that resize mask and segmentation
logits bilinearly as mmdet and mmseg do, where mmdeploy's ``end2end`` models use nearest
neighbour: ``'end2end_mask_logits'`` (RTMDet-Ins) and ``'end2end_logits'`` (``with_argmax=False``).
:mod:`.infer` does the same with OpenCV; docs/deployment.md describes them.
"""
import math

import torch
import torch.nn.functional as F
from mmdeploy.codebase.mmdet.deploy import object_detection_model
from mmdeploy.codebase.mmseg.deploy import segmentation_model
from mmdeploy.utils import get_codebase_config
from mmengine.structures import PixelData


def resize_mask_logits(logits, scale_factor, ori_shape, mask_thr_binary):
    """mmdet's RTMDet-Ins mask rescaling: (K, H, W) logits at the input's size -> (K, h, w)
    boolean masks of the original image (``scale_factor`` (w, h))."""
    if logits.shape[0] == 0:
        return logits.new_zeros((0, *ori_shape), dtype=torch.bool)
    size = [math.ceil(logits.shape[-2] / scale_factor[1]),
            math.ceil(logits.shape[-1] / scale_factor[0])]
    logits = F.interpolate(logits.unsqueeze(0), size=size, mode='bilinear',
                           align_corners=False)[0, :, :ori_shape[0], :ori_shape[1]]
    return logits.sigmoid() > mask_thr_binary


@object_detection_model.__dict__['__BACKEND_MODEL'].register_module('end2end_mask_logits')
class MaskLogitsModel(object_detection_model.End2EndModel):
    """mmdeploy's detection ``End2EndModel`` for mask logits at the input's size, binarised at
    ``post_processing.mask_thr_binary`` (``RTMDetInsHead._bbox_mask_post_process``)."""

    def forward(self, inputs, data_samples, mode='predict', **kwargs):
        assert mode == 'predict', 'Deploy model only allow mode=="predict".'
        dets, labels, logits = self.predict(inputs.contiguous())[:3]
        self.postprocessing_results(dets, labels, None, data_samples)
        threshold = get_codebase_config(self.deploy_cfg).post_processing.get(
            'mask_thr_binary', 0.5)
        for sample, sample_dets, sample_logits in zip(data_samples, dets, logits):
            meta = sample.metainfo
            keep = sample_dets[:, 4] > 0  # the rows postprocessing_results kept
            sample.pred_instances.masks = resize_mask_logits(
                sample_logits[keep].float(), meta['scale_factor'], meta['ori_shape'][:2],
                threshold).to(sample.pred_instances.bboxes.device)
        return data_samples


@segmentation_model.__dict__['__BACKEND_MODEL'].register_module('end2end_logits')
class LogitsSegmentationModel(segmentation_model.End2EndModel):
    """mmdeploy's segmentation ``End2EndModel`` for logits, resized with
    ``codebase_config.align_corners`` (``BaseSegmentor.postprocess_result``)."""

    def pack_result(self, batch_outputs, data_samples):
        align_corners = get_codebase_config(self.deploy_cfg).get('align_corners', False)
        for logits, sample in zip(batch_outputs, data_samples):
            h, w = sample.metainfo['img_shape'][:2]
            logits = F.interpolate(logits[None, :, :h, :w].float(),
                                   size=sample.metainfo['ori_shape'][:2], mode='bilinear',
                                   align_corners=align_corners)[0]
            sample.set_data(dict(pred_sem_seg=PixelData(data=logits.argmax(0, keepdim=True))))
        return data_samples
