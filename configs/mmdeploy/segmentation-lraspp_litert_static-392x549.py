_base_ = ['./_base_/segmentation-lraspp.py']

# The shapes model's size (configs/mmseg/lraspp_ghostv2_shapes.py: 160x224 images resized 2.45x).
onnx_config = dict(input_shape=[549, 392])
# ghostv2_mm's LiteRT backend (ghostv2_mm/deploy/backends.py: onnx2tf converts the graph exported
# for ONNX Runtime; the file runs channels-last). deploy.py --precision fp16|int8 writes the fp16
# or int8 file (int8 calibrated on the model config's training images).
backend_config = dict(type='litert', precision='fp32')
