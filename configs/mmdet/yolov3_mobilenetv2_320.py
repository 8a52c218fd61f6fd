# Paper Table 3 baseline: YOLOv3 + MobileNetV2 1.0x at 320 is mmdet's own config (plus the
# safety hooks; same schedule as yolov3_ghostv2_320.py), kept here so the table re-runs from
# one folder.
_base_ = ['mmdet::yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py',
          '../_base_/runtime/safety_hooks.py']

custom_imports = dict(imports=['ghostv2_mm.engine'], allow_failed_imports=False)

# Atomic checkpoints; the other safety hooks come from ../_base_/runtime/safety_hooks.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
