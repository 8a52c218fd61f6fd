_base_ = ['./_base_/detection-rtmdet.py']

# The graph ends at every prior's box regression and class scores; the runtime model decodes the
# boxes and applies the post-processing (the test_cfg of the base config) in numpy as mmdet does.
# See detection_ncnn_static-320x320.py.
onnx_config = dict(input_shape=[640, 640], output_names=['deltas', 'scores'])
codebase_config = dict(post_processing=dict(in_graph=False))
# ghostv2_mm's ncnn backend (ghostv2_mm/deploy/backends.py). deploy.py --precision fp16 stores fp16
# weights, computed in fp16 where the CPU can.
backend_config = dict(type='ncnn', precision='fp32')
