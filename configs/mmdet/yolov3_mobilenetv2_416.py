# Paper Table 3 baseline: YOLOv3 + MobileNetV2 1.0x at 416 is mmdet's own config, unchanged
# (same schedule as yolov3_ghostv2_416.py); kept here so the table re-runs from one folder.
_base_ = 'mmdet::yolo/yolov3_mobilenetv2_8xb24-ms-416-300e_coco.py'
