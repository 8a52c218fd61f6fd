# YOLOv3 + GhostNetV2 1.0x on COCO 2017 at 320 (paper Table 3): mmdet's 320 recipe (anchors and
# pipelines of mmdet::yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py) with the GhostNetV2 backbone.
_base_ = ['mmdet::yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py', './_base_/ghostv2_yolov3.py']

model = dict(backbone={{_base_.backbone}}, neck=dict(in_channels={{_base_.neck_in_channels}}))
