_base_ = ['./_base_/detection-rtmdet.py']

# The shapes model's size (configs/mmdet/rtmdet_tiny_ghostv2_shapes.py).
onnx_config = dict(input_shape=[256, 256])
# See detection_openvino_static-320x320.py for the precision.
backend_config = dict(
    type='openvino',
    precision='fp32',
    model_inputs=[dict(opt_shapes=dict(input=[1, 3, 256, 256]))])
