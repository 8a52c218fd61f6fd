# GhostNetV1 1.1x (the paper's FLOP-matched baseline): the same network with DFC attention off.
_base_ = './ghostnetv2_1.0x_in1k.py'

model = dict(backbone=dict(widen_factor=1.1, dfc_layers=()), head=dict(in_channels=1056))
