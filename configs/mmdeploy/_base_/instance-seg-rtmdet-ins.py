_base_ = ['./onnx_config.py']

onnx_config = dict(output_names=['dets', 'labels', 'masks'])
# The test_cfg of mmdet's RTMDet-Ins (rtmdet-ins_tiny_8xb32-300e_coco.py) inside the graph, through
# mmdeploy's RTMDetInsHead rewriter (ghostv2_mm/deploy/rewriters.py builds its point grid on the
# features' device): score > 0.05, the 1000 best boxes, class-wise NMS at IoU 0.6, the 100 best;
# the masks are resized to the input and binarised at 0.5 outside the graph, as mmdet does.
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.05,
        iou_threshold=0.6,
        max_output_boxes_per_class=100,
        pre_top_k=1000,
        keep_top_k=100,
        background_label_id=-1,
        mask_thr_binary=0.5,
        export_postprocess_mask=False))
