# SSDLite + GhostNetV2 1.0x on COCO 2017 at 320, trained from scratch like mmdet's baseline
# (mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py: 21.3 box AP): its anchors,
# pipelines and 600-epoch schedule (120 epochs of a RepeatDataset x5), only the backbone differs.
# ssdlite_ghostv2_320.py is the same model started from the ImageNet classifier.
_base_ = ['mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py',
          '../_base_/models/ghostnetv2.py']

# mmdet's config sets custom_hooks (its checks of num_classes and of the loss, which the
# package's safety hooks replace) and mmengine allows a key in only one base, so the safety hooks
# are read from their fragment here instead of listed in _base_ (as the RTMDet configs do).
from mmengine.config import Config  # noqa: E402

custom_hooks = Config.fromfile(
    '{{ fileDirname }}/../_base_/runtime/safety_hooks.py').custom_hooks
del Config

# Taps at strides 16 and 32 as the baseline's (MobileNetV2 indices 4 and 7: 96 and 1280
# channels): the last stride-16 bottleneck (index 6, 112) and the final 1x1 conv (index 9, 960),
# the richest stride-32 feature. The neck's first two widths are these; its extra levels
# (512, 256, 256, 128) are mmdet's. The backbone's BN is the recipe's (eps 1e-3, momentum 0.03).
ssd_norm_cfg = _base_.model.backbone.norm_cfg
backbone = _base_.backbone
backbone.update(out_indices=(6, 9), norm_cfg=ssd_norm_cfg)
ssd_channels = (112, 960, 512, 256, 256, 128)
# PredictableSSDHead is mmdet's SSDHead, which mmdet 3.3 cannot predict with (mmdetection#11305;
# ghostv2_mm/models/heads/ssd_head.py, imported on demand: it needs mmdet).
model = dict(backbone=backbone,
             neck=dict(in_channels=ssd_channels[:2], out_channels=ssd_channels),
             bbox_head=dict(type='PredictableSSDHead', in_channels=ssd_channels))
custom_imports = dict(imports=['ghostv2_mm', 'ghostv2_mm.models.heads.ssd_head'],
                      allow_failed_imports=False)

# Atomic checkpoints; the other safety hooks are the fragment's (above).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
