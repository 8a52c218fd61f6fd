_base_ = ['./detection.py']

# The test_cfg of mmdet's RTMDet-tiny (rtmdet_tiny_8xb32-300e_coco.py), applied inside the graph as
# mmdet applies it (ghostv2_mm/deploy/rewriters.py): per level the 30000 best (box, class) pairs
# scoring above 0.001, boxes clipped to the input, class-wise NMS at IoU 0.65, the 300 best.
codebase_config = dict(post_processing=dict(
    _delete_=True, score_threshold=0.001, iou_threshold=0.65, max_output_boxes_per_class=300,
    pre_top_k=30000, keep_top_k=300, background_label_id=-1))
