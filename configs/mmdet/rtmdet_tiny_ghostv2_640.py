# RTMDet-tiny + GhostNetV2 1.0x on COCO 2017 at 640: mmdet's RTMDet-tiny recipe (300 epochs,
# Mosaic/MixUp, AdamW, EMA, pipeline switch at epoch 280) with the GhostNetV2 backbone.
_base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py', '../_base_/models/ghostnetv2.py']

# Taps, one per stride 8/16/32: the last bottleneck of each resolution (indices 4, 6 and 8: 40,
# 112 and 160 channels), like CSPNeXt's stage outputs. Not the final 1x1 conv (index 9, 960
# channels) that YOLOv3 taps: CSPNeXt-PAFPN's reduce conv and top-down CSP block would run on 960
# channels at stride 32, 8.80M params / 6.67 GMACs at 640 against 4.69M / 4.97 GMACs
# (ghostv2_mm.complexity, README) for a feature the classifier only uses before its pooling.
backbone = _base_.backbone
backbone.update(out_indices=(4, 6, 8), init_cfg=_base_.pretrained_init)
model = dict(
    # The backbone's ImageNet weights were trained on RGB images with these mean/std (mmpretrain);
    # RTMDet's own normalisation is CSPNeXt's (BGR).
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=backbone,
    neck=dict(in_channels=[40, 112, 160]))

# mmdet's RTMDet config has custom_hooks of its own (EMA, the pipeline switch at epoch 280) and
# mmengine allows a key in only one base, so the safety hooks are read from their fragment and
# put after mmdet's, instead of the fragment being listed in _base_ (as ssdlite_ghostv2*.py do).
from mmengine.config import Config  # noqa: E402

custom_hooks = [*_base_.custom_hooks, *Config.fromfile(
    '{{ fileDirname }}/../_base_/runtime/safety_hooks.py').custom_hooks]
del Config
# Atomic checkpoints; the other safety hooks are the fragment's (above).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
