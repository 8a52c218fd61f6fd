_base_ = ['./onnx_config.py']

onnx_config = dict(output_names=['dets', 'labels'])
# The test_cfg of mmdet's RTMDet-tiny (rtmdet_tiny_8xb32-300e_coco.py), applied inside the graph as
# mmdet applies it (ghostv2_mm/deploy/rewriters.py): per level the 30000 best (box, class) pairs
# scoring above 0.001, boxes clipped to the input, class-wise NMS at IoU 0.65, the 300 best.
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.001,
        iou_threshold=0.65,
        max_output_boxes_per_class=300,
        pre_top_k=30000,
        keep_top_k=300,
        background_label_id=-1))
