_base_ = ['./_base_/detection.py']

# The graph ends at every prior's box regression, objectness and class scores, and the runtime
# model decodes the boxes and applies the post-processing (the test_cfg of the base config) in
# numpy as mmdet does (ghostv2_mm/deploy/postprocess.py), as for ncnn: onnx2tf converts the
# in-graph NMS of an fp32 file but fixes an int8 file's number of boxes to one, its int8 files
# decode SSD's boxes into nothing, and SSDLite's in-graph post-processing converted inexactly.
onnx_config = dict(input_shape=[320, 320], output_names=['deltas', 'objectness', 'scores'])
codebase_config = dict(post_processing=dict(in_graph=False))
# ghostv2_mm's LiteRT backend (ghostv2_mm/deploy/backends.py: onnx2tf converts the graph exported
# for ONNX Runtime; the file runs channels-last). deploy.py --precision fp16|int8 writes the fp16
# or int8 file (int8 calibrated on the model config's training images; float input and outputs).
backend_config = dict(type='litert', precision='fp32')
