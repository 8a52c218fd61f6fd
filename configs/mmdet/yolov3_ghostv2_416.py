# YOLOv3 + GhostNetV2 1.0x on COCO 2017 at 416 (paper Table 3). mmdet's YOLOv3-MobileNetV2 recipe
# is the paper's detection setting: SGD lr 0.003, batch 192 (8 GPUs x 24), 30 epochs (of a
# RepeatDataset x10, as in mmdet), multi-scale 320-416 training; only the backbone and the neck's
# input channels differ (as in yolov3_ghostv2_320.py).
_base_ = ['mmdet::yolo/yolov3_mobilenetv2_8xb24-ms-416-300e_coco.py',
          '../_base_/models/ghostnetv2.py']

# Taps, one per stride 8/16/32: the last bottleneck of each resolution (indices 4 and 6: 40 and
# 112 channels) and, at stride 32, the final 1x1 conv (index 9, 960 channels). That conv is the
# richest stride-32 feature the ImageNet classifier was trained on, and Table 3 counts it in the
# backbone FLOPs. The neck keeps mmdet's MobileNetV2 widths (96), so backbones compare under the
# same neck and head. ReLU is kept (the pretrained weights use it), unlike mmdet's LeakyReLU
# MobileNetV2.
backbone = _base_.backbone
backbone.update(out_indices=(4, 6, 9), init_cfg=_base_.pretrained_init)
model = dict(backbone=backbone, neck=dict(in_channels=[960, 112, 40]))

# Atomic checkpoints, random numbers independent of resumes, a stop at the first NaN/inf loss,
# num_classes checked against the dataset (ghostv2_mm.engine, docs/faults.md).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
custom_hooks = [dict(type='StepSeedHook'), dict(type='InvalidLossHook'),
                dict(type='ClassesCheckHook')]
