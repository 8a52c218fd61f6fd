_base_ = ['./_base_/segmentation-lraspp.py']

# The shapes model's size (configs/mmseg/lraspp_ghostv2_shapes.py: 160x224 images resized 2.45x).
onnx_config = dict(input_shape=[549, 392])
# See detection_openvino_static-320x320.py for the precision.
backend_config = dict(
    type='openvino',
    precision='fp32',
    model_inputs=[dict(opt_shapes=dict(input=[1, 3, 392, 549]))])
