_base_ = ['./_base_/segmentation.py']

# The 160x224 (H x W) images of configs/mmseg/deeplabv3_ghostv2_shapes.py. See
# detection_openvino_static-320x320.py for the precision.
onnx_config = dict(input_shape=[224, 160])
backend_config = dict(
    type='openvino',
    precision='fp32',
    model_inputs=[dict(opt_shapes=dict(input=[1, 3, 160, 224]))])
