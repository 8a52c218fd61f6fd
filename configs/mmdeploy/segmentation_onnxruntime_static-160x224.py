_base_ = ['./_base_/segmentation.py']

# The 160x224 (H x W) images of configs/mmseg/deeplabv3_ghostv2_shapes.py.
onnx_config = dict(input_shape=[224, 160])
backend_config = dict(type='onnxruntime')
