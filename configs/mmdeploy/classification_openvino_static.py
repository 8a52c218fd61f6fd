_base_ = ['./_base_/classification.py']

# The input size is the one the model config's test pipeline gives the conversion image. See
# detection_openvino_static-320x320.py for the precision.
backend_config = dict(type='openvino', precision='fp32')
