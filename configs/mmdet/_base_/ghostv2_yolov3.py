# The GhostNetV2 parts of the YOLOv3 configs, as variables (no `model` key) so a config can take
# both these and one of mmdet's YOLOv3-MobileNetV2 configs as bases.
custom_imports = dict(imports=['ghostv2_mm'], allow_failed_imports=False)

# The ImageNet classifier of configs/mmpretrain/ghostnetv2_1.0x_in1k.py, trained or converted from
# the official release (see README). Override with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/ghostnetv2_1.0x_in1k.pth'

# Taps, one per stride 8/16/32: the last bottleneck of each resolution (indices 4 and 6: 40 and
# 112 channels) and, at stride 32, the final 1x1 conv (index 9, 960 channels). That conv is the
# richest stride-32 feature the ImageNet classifier was trained on, and Table 3 counts it in the
# backbone FLOPs. The neck keeps mmdet's MobileNetV2 widths (96), so backbones compare under the
# same neck and head. ReLU is kept (the pretrained weights use it), unlike mmdet's LeakyReLU
# MobileNetV2.
backbone = dict(
    _delete_=True,
    type='GhostNetV2',
    widen_factor=1.0,
    out_indices=(4, 6, 9),
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'))
neck_in_channels = [960, 112, 40]
