"""int8 with NNCF's post-training quantisation of OpenVINO models (``nncf.quantize``)."""
import os.path as osp


def quantize_nncf(onnx_file, calib, excluded, work_dir):
    """``end2end_int8.xml/.bin`` in ``work_dir``: NNCF's MIXED preset (symmetric weights,
    asymmetric activations: the DFC gate and the activations after the Ghost modules'
    concatenation are far from symmetric about 0) calibrated on ``calib``, the ONNX nodes
    ``excluded`` in float."""
    import nncf
    import openvino as ov
    ov_model = ov.Core().read_model(onnx_file)
    input_name = ov_model.inputs[0].get_any_name()
    # OpenVINO names an op after its ONNX node, or NAME/WithoutBiases (a conv whose bias is an Add).
    excluded = set(excluded)
    ignored = [name for name in (op.get_friendly_name() for op in ov_model.get_ops())
               if name.split('/WithoutBiases')[0] in excluded]
    quantized = nncf.quantize(ov_model, nncf.Dataset(calib, lambda x: {input_name: x}),
                              preset=nncf.QuantizationPreset.MIXED, subset_size=len(calib),
                              ignored_scope=nncf.IgnoredScope(names=ignored, validate=False))
    xml = osp.join(work_dir, 'end2end_int8.xml')
    ov.save_model(quantized, xml, compress_to_fp16=False)
    return [xml, xml[:-4] + '.bin']
