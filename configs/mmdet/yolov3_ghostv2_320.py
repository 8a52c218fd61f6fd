# YOLOv3 + GhostNetV2 1.0x on COCO 2017 at 320 (paper Table 3): mmdet's 320 recipe (anchors and
# pipelines of mmdet::yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py) with the GhostNetV2 backbone.
_base_ = ['mmdet::yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py',
          '../_base_/models/ghostnetv2.py', '../_base_/runtime/safety_hooks.py']

# Taps, one per stride 8/16/32: the last bottleneck of each resolution (indices 4 and 6: 40 and
# 112 channels) and, at stride 32, the final 1x1 conv (index 9, 960 channels). That conv is the
# richest stride-32 feature the ImageNet classifier was trained on, and Table 3 counts it in the
# backbone FLOPs. The neck keeps mmdet's MobileNetV2 widths (96), so backbones compare under the
# same neck and head. ReLU is kept (the pretrained weights use it), unlike mmdet's LeakyReLU
# MobileNetV2.
backbone = _base_.backbone
backbone.update(out_indices=(4, 6, 9), init_cfg=_base_.pretrained_init)
model = dict(backbone=backbone, neck=dict(in_channels=[960, 112, 40]))

# Atomic checkpoints; the other safety hooks come from ../_base_/runtime/safety_hooks.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
