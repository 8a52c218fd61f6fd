_base_ = ['./_base_/segmentation-lraspp.py']

onnx_config = dict(input_shape=[1024, 512])
backend_config = dict(type='onnxruntime')
