_base_ = ['./_base_/segmentation-lraspp.py']

# The shapes model's size (configs/mmseg/lraspp_ghostv2_shapes.py: 160x224 images resized 2.45x).
onnx_config = dict(input_shape=[549, 392])
# ghostv2_mm's ncnn backend (ghostv2_mm/deploy/backends.py: pnnx converts the graph exported for
# ONNX Runtime). fp32 computes in fp32; deploy.py --precision fp16 stores fp16 weights, computed in
# fp16 where the CPU can.
backend_config = dict(type='ncnn', precision='fp32')
