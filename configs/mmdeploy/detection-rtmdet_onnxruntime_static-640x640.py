_base_ = ['./_base_/detection-rtmdet.py']

onnx_config = dict(input_shape=[640, 640])
backend_config = dict(type='onnxruntime')
