_base_ = ['./_base_/detection-rtmdet.py']

# The shapes model's size (configs/mmdet/rtmdet_tiny_ghostv2_shapes.py).
# The graph ends at every prior's box regression and class scores; the runtime model decodes the
# boxes and applies the post-processing (the test_cfg of the base config) in numpy as mmdet does.
# See detection_litert_static-320x320.py.
onnx_config = dict(input_shape=[256, 256], output_names=['deltas', 'scores'])
codebase_config = dict(post_processing=dict(in_graph=False))
# ghostv2_mm's LiteRT backend (ghostv2_mm/deploy/backends.py: onnx2tf converts the graph exported
# for ONNX Runtime; the file runs channels-last). deploy.py --precision fp16|int8 writes the fp16
# or int8 file (int8 calibrated on the model config's training images; float input and outputs).
backend_config = dict(type='litert', precision='fp32')
