_base_ = ['./_base_/detection.py']

onnx_config = dict(input_shape=[416, 416])
# ghostv2_mm's OpenVINO backend (ghostv2_mm/deploy/backends.py). OpenVINO picks bf16 on CPUs with
# AVX512-BF16 unless told otherwise: the precision is part of the deployment.
backend_config = dict(
    type='openvino',
    precision='fp32',
    model_inputs=[dict(opt_shapes=dict(input=[1, 3, 416, 416]))])
