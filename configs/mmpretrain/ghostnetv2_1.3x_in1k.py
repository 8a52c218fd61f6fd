_base_ = './ghostnetv2_1.0x_in1k.py'

model = dict(backbone=dict(widen_factor=1.3), head=dict(in_channels=1248))
