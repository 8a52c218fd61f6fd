# RTMDet-Ins-tiny + GhostNetV2 1.0x on COCO 2017 at 640: mmdet's RTMDet-Ins-tiny recipe with the
# GhostNetV2 backbone; taps, normalisation and initialisation as in rtmdet_tiny_ghostv2_640.py.
_base_ = ['mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py', '../_base_/models/ghostnetv2.py']

# Taps (4, 6, 8): 40/112/160 channels at strides 8/16/32; (4, 6, 9) would cost 9.54M params /
# 10.51 GMACs at 640 against 5.43M / 8.80 GMACs (rtmdet_tiny_ghostv2_640.py, README).
backbone = _base_.backbone
backbone.update(out_indices=(4, 6, 8), init_cfg=_base_.pretrained_init)
model = dict(
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
