# Paper Table 3 baseline: YOLOv3 + MobileNetV2 1.0x at 320 is mmdet's own config (plus the
# safety hooks below; same schedule as yolov3_ghostv2_320.py), kept here so the table re-runs from
# one folder.
_base_ = 'mmdet::yolo/yolov3_mobilenetv2_8xb24-320-300e_coco.py'

custom_imports = dict(imports=['ghostv2_mm.engine'], allow_failed_imports=False)

# Atomic checkpoints, random numbers independent of resumes, a stop at the first NaN/inf loss,
# num_classes checked against the dataset (ghostv2_mm.engine, docs/faults.md).
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
custom_hooks = [dict(type='StepSeedHook'), dict(type='InvalidLossHook'),
                dict(type='ClassesCheckHook')]
