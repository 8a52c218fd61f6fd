_base_ = ['./_base_/segmentation-lraspp.py']

onnx_config = dict(input_shape=[1024, 512])
# See detection_openvino_static-320x320.py for the precision.
backend_config = dict(
    type='openvino',
    precision='fp32',
    model_inputs=[dict(opt_shapes=dict(input=[1, 3, 512, 1024]))])
