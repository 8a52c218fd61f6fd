# YOLOv3 + GhostNetV2 1.0x on COCO 2017 at 416 (paper Table 3). mmdet's YOLOv3-MobileNetV2 recipe
# is the paper's detection setting: SGD lr 0.003, batch 192 (8 GPUs x 24), 30 epochs (of a
# RepeatDataset x10, as in mmdet), multi-scale 320-416 training; only the backbone and the neck's
# input channels differ (see _base_/ghostv2_yolov3.py).
_base_ = ['mmdet::yolo/yolov3_mobilenetv2_8xb24-ms-416-300e_coco.py', './_base_/ghostv2_yolov3.py']

model = dict(backbone={{_base_.backbone}}, neck=dict(in_channels={{_base_.neck_in_channels}}))
