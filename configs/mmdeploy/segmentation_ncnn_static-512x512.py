_base_ = ['./_base_/segmentation.py']

# ncnn has no arg-max along the channels (pnnx does not map it): the graph ends at the
# logits, which the backend model 'end2end_logits' (ghostv2_mm/deploy/backend_models.py) and
# ghostv2_mm.deploy.infer resize bilinearly to the image before the arg-max, as mmseg does
# (align_corners: the decode head's, False).
codebase_config = dict(with_argmax=False, model_type='end2end_logits', align_corners=False)

onnx_config = dict(input_shape=[512, 512])
# ghostv2_mm's ncnn backend (ghostv2_mm/deploy/backends.py: pnnx converts the graph exported for
# ONNX Runtime). fp32 computes in fp32; deploy.py --precision fp16 stores fp16 weights, computed in
# fp16 where the CPU can.
backend_config = dict(type='ncnn', precision='fp32')
