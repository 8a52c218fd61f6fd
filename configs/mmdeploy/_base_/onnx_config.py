# mmdeploy's ONNX settings (mmdeploy configs/_base_/onnx_config.py): one end-to-end graph,
# pre-processing outside it (deploy.json/pipeline.json), post-processing inside it. mmdeploy's
# graph optimiser needs its TorchScript extension, which the PyPI wheel does not have.
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=11,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=False)
