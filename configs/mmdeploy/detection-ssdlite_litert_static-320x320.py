_base_ = ['./_base_/detection-ssdlite.py']

# See detection_litert_static-320x320.py for the post-processing.
onnx_config = dict(input_shape=[320, 320])
# ghostv2_mm's LiteRT backend (ghostv2_mm/deploy/backends.py: onnx2tf converts the graph exported
# for ONNX Runtime; the file runs channels-last). deploy.py --precision fp16|int8 writes the fp16
# or int8 file (int8 calibrated on the model config's training images).
backend_config = dict(type='litert', precision='fp32')
