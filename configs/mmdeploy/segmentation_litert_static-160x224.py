_base_ = ['./_base_/segmentation.py']

# The 160x224 (H x W) images of configs/mmseg/deeplabv3_ghostv2_shapes.py.
onnx_config = dict(input_shape=[224, 160])
# ghostv2_mm's LiteRT backend (ghostv2_mm/deploy/backends.py: onnx2tf converts the graph exported
# for ONNX Runtime; the file runs channels-last). deploy.py --precision fp16|int8 writes the fp16
# or int8 file (int8 calibrated on the model config's training images).
backend_config = dict(type='litert', precision='fp32')
