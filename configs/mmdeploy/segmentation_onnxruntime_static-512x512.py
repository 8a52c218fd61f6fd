_base_ = ['./_base_/segmentation.py']

onnx_config = dict(input_shape=[512, 512])
backend_config = dict(type='onnxruntime')
