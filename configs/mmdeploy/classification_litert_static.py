_base_ = ['./_base_/classification.py']

# The input size is the one the model config's test pipeline gives the conversion image; ncnn and
# LiteRT files are static.
# ghostv2_mm's LiteRT backend (ghostv2_mm/deploy/backends.py: onnx2tf converts the graph exported
# for ONNX Runtime; the file runs channels-last). deploy.py --precision fp16|int8 writes the fp16
# or int8 file (int8 calibrated on the model config's training images).
backend_config = dict(type='litert', precision='fp32')
