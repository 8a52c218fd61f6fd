_base_ = ['./onnx_config.py']

# The graph outputs the class scores (softmax of the head), as mmpretrain's predictions.
codebase_config = dict(type='mmpretrain', task='Classification')
