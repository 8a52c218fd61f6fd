# SSDLite + GhostNetV2 1.0x on COCO 2017 at 320 with the backbone started from the ImageNet
# classifier (configs/mmpretrain/ghostnetv2_1.0x_in1k.py) through init_cfg, as the YOLOv3
# configs; otherwise ssdlite_ghostv2-scratch_320.py (mmdet's SSDLite recipe and schedule).
_base_ = './ssdlite_ghostv2-scratch_320.py'

# Plain BN (eps 1e-5), the statistics the ImageNet weights were trained with.
model = dict(backbone=dict(norm_cfg=dict(_delete_=True, type='BN'),
                           init_cfg=_base_.pretrained_init))
