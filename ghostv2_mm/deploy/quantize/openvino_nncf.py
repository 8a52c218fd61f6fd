"""int8 with NNCF's post-training quantisation of OpenVINO models (``nncf.quantize``)."""
import os.path as osp


def openvino_names(ov_model, onnx_names):
    """The OpenVINO operations an ONNX node became: OpenVINO's ONNX frontend names them after
    the node (``NAME``) or with a suffix (``NAME/WithoutBiases`` for a conv whose bias became an
    ``Add``)."""
    wanted = set(onnx_names)
    names = [op.get_friendly_name() for op in ov_model.get_ops()]
    return [name for name in names if name in wanted or name.split('/WithoutBiases')[0] in wanted]


def quantize_nncf(onnx_file, calib, excluded, work_dir):
    """``end2end_int8.xml/.bin`` in ``work_dir``: NNCF's MIXED preset (symmetric weights,
    asymmetric activations: the DFC gate and the activations after the Ghost modules'
    concatenation are far from symmetric about 0) calibrated on ``calib``, the ONNX nodes
    ``excluded`` in float."""
    import nncf
    import openvino as ov
    ov_model = ov.Core().read_model(onnx_file)
    input_name = ov_model.inputs[0].get_any_name()
    ignored = nncf.IgnoredScope(names=openvino_names(ov_model, excluded), validate=False)
    quantized = nncf.quantize(ov_model, nncf.Dataset(calib, lambda x: {input_name: x}),
                              preset=nncf.QuantizationPreset.MIXED, subset_size=len(calib),
                              ignored_scope=ignored)
    xml = osp.join(work_dir, 'end2end_int8.xml')
    ov.save_model(quantized, xml, compress_to_fp16=False)
    return [xml, xml[:-4] + '.bin']
