_base_ = ['./onnx_config.py']

onnx_config = dict(output_names=['dets', 'labels'])
# The test_cfg of configs/mmdet/yolov3_*.py (mmdet's YOLOv3 recipe), applied inside the graph as
# mmdet applies it (ghostv2_mm/deploy/rewriters.py): objectness >= confidence_threshold, class
# score > score_threshold, the pre_top_k best (box, class) pairs, class-wise NMS at iou_threshold,
# the keep_top_k best.
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.05,
        confidence_threshold=0.005,
        iou_threshold=0.45,
        max_output_boxes_per_class=200,
        pre_top_k=1000,
        keep_top_k=100,
        background_label_id=-1))
