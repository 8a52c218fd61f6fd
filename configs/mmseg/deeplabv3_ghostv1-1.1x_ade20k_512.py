# Paper Table 5 baseline: DeepLabV3 + GhostNetV1 1.1x (DFC attention off), same schedule.
_base_ = './deeplabv3_ghostv2_ade20k_512.py'

model = dict(
    backbone=dict(
        widen_factor=1.1,
        dfc_layers=(),
        init_cfg=dict(checkpoint='checkpoints/ghostnetv1_1.1x_in1k.pth')),
    decode_head=dict(in_channels=176),
    auxiliary_head=dict(in_channels=124))
