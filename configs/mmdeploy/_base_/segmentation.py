_base_ = ['./onnx_config.py']

# The graph ends with the arg-max: it outputs the label map (N, 1, H, W).
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)
