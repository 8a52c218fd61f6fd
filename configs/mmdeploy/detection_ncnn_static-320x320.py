_base_ = ['./_base_/detection.py']

# ncnn has no layers for top-k and NMS: the graph ends at every prior's box regression, objectness
# and class scores (ghostv2_mm/deploy/rewriters.py), and the runtime model decodes the boxes and
# applies the post-processing (the base config's test_cfg) in numpy as mmdet does
# (ghostv2_mm/deploy/postprocess.py), returning the end-to-end graph's dets and labels.
onnx_config = dict(input_shape=[320, 320], output_names=['deltas', 'objectness', 'scores'])
codebase_config = dict(post_processing=dict(in_graph=False))
# ghostv2_mm's ncnn backend (ghostv2_mm/deploy/backends.py: pnnx converts the graph exported for
# ONNX Runtime). fp32 computes in fp32; deploy.py --precision fp16 stores fp16 weights, computed in
# fp16 where the CPU can.
backend_config = dict(type='ncnn', precision='fp32')
