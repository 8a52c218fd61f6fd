_base_ = ['./_base_/detection-ssdlite.py']

onnx_config = dict(input_shape=[320, 320])
backend_config = dict(type='onnxruntime')
