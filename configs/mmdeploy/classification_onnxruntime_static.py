_base_ = ['./_base_/classification.py']

# The input size is the one the model config's test pipeline gives the conversion image.
backend_config = dict(type='onnxruntime')
