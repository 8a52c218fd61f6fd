_base_ = ['./_base_/detection-ssdlite.py']

# The graph ends at every prior's decoded box (clipped to the input) and class scores, and the
# runtime model applies the post-processing in numpy as mmdet does (ghostv2_mm.deploy.postprocess,
# as for ncnn): onnx2tf's conversion of SSDLite's in-graph post-processing returned extra boxes
# (bbox mAP 0.865 against 0.867 on the shapes model), the network's outputs are PyTorch's.
onnx_config = dict(input_shape=[320, 320], output_names=['boxes', 'scores'])
codebase_config = dict(post_processing=dict(in_graph=False))
# ghostv2_mm's LiteRT backend (ghostv2_mm/deploy/backends.py: onnx2tf converts the graph exported
# for ONNX Runtime; the file runs channels-last). deploy.py --precision fp16|int8 writes the fp16
# or int8 file (int8 calibrated on the model config's training images; float input and outputs).
backend_config = dict(type='litert', precision='fp32')
