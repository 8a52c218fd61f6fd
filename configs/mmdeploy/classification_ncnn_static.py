_base_ = ['./_base_/classification.py']

# The input size is the one the model config's test pipeline gives the conversion image; ncnn and
# LiteRT files are static.
# ghostv2_mm's ncnn backend (ghostv2_mm/deploy/backends.py: pnnx converts the graph exported for
# ONNX Runtime). fp32 computes in fp32; deploy.py --precision fp16 stores fp16 weights, computed in
# fp16 where the CPU can.
backend_config = dict(type='ncnn', precision='fp32')
