_base_ = ['./_base_/detection.py']

# ncnn has no layers for top-k and NMS: the graph ends at every prior's decoded box, class scores
# and objectness (ghostv2_mm/deploy/rewriters.py), and the runtime model applies the
# post-processing (the test_cfg below) in numpy as mmdet does (ghostv2_mm/deploy/postprocess.py),
# returning the end-to-end graph's dets and labels.
onnx_config = dict(input_shape=[320, 320], output_names=['boxes', 'scores', 'objectness'])
codebase_config = dict(post_processing=dict(in_graph=False))
# ghostv2_mm's ncnn backend (ghostv2_mm/deploy/backends.py: pnnx converts the graph exported for
# ONNX Runtime). fp32 computes in fp32; deploy.py --precision fp16 stores fp16 weights, computed in
# fp16 where the CPU can.
backend_config = dict(type='ncnn', precision='fp32')
