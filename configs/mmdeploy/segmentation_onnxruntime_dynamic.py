_base_ = ['./_base_/segmentation.py']

onnx_config = dict(
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        output={0: 'batch', 2: 'height', 3: 'width'}))
backend_config = dict(type='onnxruntime')
