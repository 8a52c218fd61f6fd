_base_ = ['./_base_/detection-rtmdet.py']

# The shapes model's size (configs/mmdet/rtmdet_tiny_ghostv2_shapes.py).
onnx_config = dict(input_shape=[256, 256])
backend_config = dict(type='onnxruntime')
