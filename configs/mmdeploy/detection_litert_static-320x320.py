_base_ = ['./_base_/detection.py']

onnx_config = dict(input_shape=[320, 320])
# The graph ends with mmdet's post-processing (NMS included), which LiteRT runs as ONNX Runtime
# does (onnx2tf keeps the number of boxes NMS returns dynamic). int8 keeps the file's input and
# outputs float (ghostv2_mm/deploy/mobile.py). ncnn has no layers for the post-processing.
# ghostv2_mm's LiteRT backend (ghostv2_mm/deploy/backends.py: onnx2tf converts the graph exported
# for ONNX Runtime; the file runs channels-last). deploy.py --precision fp16|int8 writes the fp16
# or int8 file (int8 calibrated on the model config's training images).
backend_config = dict(type='litert', precision='fp32')
