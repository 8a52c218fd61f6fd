# DeepLabV3 + GhostNetV2 1.0x on ADE20K, 512x512 crops, 160k iterations (paper Table 5), following
# mmseg's mobile-backbone DeepLabV3 recipe; only the backbone and the heads' input channels differ.
_base_ = ['mmseg::mobilenet_v2/mobilenet-v2-d8_deeplabv3_4xb4-160k_ade20k-512x512.py',
          '../_base_/models/ghostnetv2.py', '../_base_/runtime/safety_hooks.py']

norm_cfg = dict(type='SyncBN', requires_grad=True)

# Output stride 8 through dilation (stride-16 stages dilated by 2, stride-32 stages by 4), as the
# MobileNetV2-d8 recipe. ASPP reads the last bottleneck (index 8, 160 channels), like that recipe
# reads MobileNetV2's last inverted residual (320) rather than its 1x1 expansion: at 64x64 an ASPP
# on the 960-channel conv would cost 3x more. The auxiliary FCN head reads index 6 (112).
backbone = _base_.backbone
backbone.update(output_stride=8, out_indices=(2, 4, 6, 8), norm_cfg=norm_cfg,
                init_cfg=_base_.pretrained_init)
model = dict(
    pretrained=None,
    backbone=backbone,
    decode_head=dict(in_channels=160),
    auxiliary_head=dict(in_channels=112))
# The backbone's final 1x1 conv (index 9) is not run, so DDP must tolerate its unused parameters.
find_unused_parameters = True

# Atomic checkpoints; the other safety hooks come from ../_base_/runtime/safety_hooks.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
