_base_ = ['./_base_/segmentation-lraspp.py']

# The shapes model's size (configs/mmseg/lraspp_ghostv2_shapes.py: 160x224 images resized 2.45x).
onnx_config = dict(input_shape=[549, 392])
backend_config = dict(type='onnxruntime')
