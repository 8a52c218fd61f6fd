_base_ = ['./detection.py']

onnx_config = dict(output_names=['dets', 'labels', 'masks'])
# The test_cfg of mmdet's RTMDet-Ins-tiny (rtmdet-ins_tiny_8xb32-300e_coco.py), applied inside the
# graph as mmdet applies it (ghostv2_mm/deploy/rewriters.py): per level the 1000 best (box, class)
# pairs scoring above 0.05, boxes clipped to the input, class-wise NMS at IoU 0.6, the 100 best,
# and their mask logits at the input's size. The backend model 'end2end_mask_logits'
# (ghostv2_mm/deploy/backend_models.py) resizes them to the image and binarises them at 0.5 as
# mmdet does.
codebase_config = dict(model_type='end2end_mask_logits', post_processing=dict(
    _delete_=True, score_threshold=0.05, iou_threshold=0.6, max_output_boxes_per_class=100,
    pre_top_k=1000, keep_top_k=100, background_label_id=-1, mask_thr_binary=0.5))
