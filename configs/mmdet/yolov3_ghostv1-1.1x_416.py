# Paper Table 3 baseline: YOLOv3 + GhostNetV1 1.1x (GhostNetV2 with DFC attention off, widened to
# the same FLOPs) at 416, same schedule as yolov3_ghostv2_416.py.
_base_ = './yolov3_ghostv2_416.py'

model = dict(
    backbone=dict(
        widen_factor=1.1,
        dfc_layers=(),
        init_cfg=dict(checkpoint='checkpoints/ghostnetv1_1.1x_in1k.pth')),
    neck=dict(in_channels=[1056, 124, 44]))
