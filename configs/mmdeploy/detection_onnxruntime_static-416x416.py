_base_ = ['./_base_/detection.py']

onnx_config = dict(input_shape=[416, 416])
backend_config = dict(type='onnxruntime')
