_base_ = ['./detection.py']

# The test_cfg of mmdet's SSDLite (ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py), applied inside
# the graph as mmdet applies it (ghostv2_mm/deploy/rewriters.py): softmax scores, per level the
# 1000 best (box, class) pairs scoring above 0.02, boxes clipped to the input, class-wise NMS at
# IoU 0.45, the 200 best.
codebase_config = dict(post_processing=dict(
    _delete_=True, score_threshold=0.02, iou_threshold=0.45, max_output_boxes_per_class=200,
    pre_top_k=1000, keep_top_k=200, background_label_id=-1))
