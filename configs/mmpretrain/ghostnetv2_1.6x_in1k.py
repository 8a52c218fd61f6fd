_base_ = './ghostnetv2_1.0x_in1k.py'

model = dict(backbone=dict(widen_factor=1.6), head=dict(in_channels=1536))
