# YOLOv3 + GhostNetV2 1.0x on COCO 2017 at 416 (paper Table 3). mmdet's YOLOv3-MobileNetV2 recipe
# is the paper's detection setting: SGD lr 0.003, batch 192 (8 GPUs x 24), 30 epochs (of a
# RepeatDataset x10, as in mmdet), multi-scale 320-416 training; only the backbone and the neck's
# input channels differ (as in yolov3_ghostv2_320.py).
_base_ = ['mmdet::yolo/yolov3_mobilenetv2_8xb24-ms-416-300e_coco.py',
          '../_base_/models/ghostnetv2.py', '../_base_/runtime/safety_hooks.py']

# Taps and neck widths as in yolov3_ghostv2_320.py (the reasons are given there).
backbone = _base_.backbone
backbone.update(out_indices=(4, 6, 9), init_cfg=_base_.pretrained_init)
model = dict(backbone=backbone, neck=dict(in_channels=[960, 112, 40]))

# Atomic checkpoints; the other safety hooks come from ../_base_/runtime/safety_hooks.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
