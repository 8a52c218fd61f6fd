# The GhostNetV2 backbone shared by the mmpretrain, mmdet and mmseg configs. Variables only (no
# `model`), so a config takes this file and its library's own base as `_base_` and writes
#   backbone = _base_.backbone
#   backbone.update(...)        # taps, output stride, init_cfg
#   model = dict(backbone=backbone, ...)
custom_imports = dict(imports=['ghostv2_mm'], allow_failed_imports=False)

# The ImageNet classifier of configs/mmpretrain/ghostnetv2_1.0x_in1k.py, trained or converted from
# the official release (docs/configs.md). Override with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
pretrained = 'checkpoints/ghostnetv2_1.0x_in1k.pth'
# For detectors and segmentors: the backbone part of that classifier.
pretrained_init = dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')

# Feature index -> channels at widen_factor 1.0 / 1.1 / 1.3 / 1.6, stride at output_stride
# 32 / 16 / 8 (index 9 is the final 1x1 conv, the classifier's feature):
#   0: 16 / 16 / 20 / 24        stride 2 / 2 / 2
#   1: 24 / 28 / 32 / 40        stride 4 / 4 / 4
#   2: 24 / 28 / 32 / 40        stride 4 / 4 / 4
#   3: 40 / 44 / 52 / 64        stride 8 / 8 / 8
#   4: 40 / 44 / 52 / 64        stride 8 / 8 / 8
#   5: 80 / 88 / 104 / 128      stride 16 / 16 / 8
#   6: 112 / 124 / 144 / 180    stride 16 / 16 / 8
#   7: 160 / 176 / 208 / 256    stride 32 / 16 / 8
#   8: 160 / 176 / 208 / 256    stride 32 / 16 / 8
#   9: 960 / 1056 / 1248 / 1536 stride 32 / 16 / 8
# `_delete_` drops the base library's backbone (MobileNetV2/V3) instead of merging into it.
backbone = dict(_delete_=True, type='GhostNetV2', widen_factor=1.0, out_indices=(9, ))
