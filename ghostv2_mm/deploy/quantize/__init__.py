"""Post-training int8 quantisation of deployed ONNX models with the runtimes' own tools: ONNX
Runtime's ``quantize_static`` (QDQ, :mod:`.onnxruntime_qdq`) into ``end2end_int8.onnx``, NNCF
(:mod:`.openvino_nncf`) into ``end2end_int8.xml/.bin``. Both are calibrated on the inputs given
(:mod:`.calibration`) and keep in float the layers a list names by the graph's structure
(:mod:`.groups`); :mod:`.fidelity` measures how closely the quantised outputs follow the float
ones. Only numpy and onnx are imported here; each runtime when used.
"""
import os
import os.path as osp

import onnx

from ...errors import RuntimeCrash
from ...utils import check_choice
from .. import profiles
from ..runtime import check_runs
from .calibration import dataset_inputs, samples
from .fidelity import fidelity, matched_box_iou, pixel_agreement, top1_agreement
from .groups import (COMPUTE_OPS, GROUPS, input_name, layer_groups, name_nodes, select_nodes,
                     small_map_nodes, unshare_parameters)
from .onnxruntime_qdq import prepare, quantize_qdq
from .openvino_nncf import quantize_nncf

# Layers kept in float unless told otherwise, per backend (tools/deployment/quant_sensitivity.py,
# docs/quantization.md): the stem (the most sensitive group) and the output layers, both cheap in
# float; for ONNX Runtime the DFC branch's convs too, which its int8 kernels run no faster.
DEFAULT_SENSITIVE_LAYERS = {
    'onnxruntime': ('dfc.proj', 'dfc.hfc', 'dfc.vfc', 'output'),
    'openvino': ('stem', 'output'),
}
# OpenVINO's int8 kernels for Intel's AMX tiles crash (SIGSEGV) on GhostNetV2's layers at small
# feature maps (docs/quantization.md). Its int8 files keep the layers on maps of at most this side
# in float on every CPU, so that a file written on one CPU runs on the others.
OPENVINO_FLOAT_MAX_SIDE = 4

__all__ = ['quantize', 'DEFAULT_SENSITIVE_LAYERS', 'OPENVINO_FLOAT_MAX_SIDE', 'COMPUTE_OPS',
           'GROUPS', 'layer_groups', 'name_nodes', 'select_nodes', 'small_map_nodes',
           'unshare_parameters', 'dataset_inputs', 'fidelity', 'matched_box_iou',
           'pixel_agreement', 'top1_agreement']
# The backends quantised here (ONNX Runtime's QDQ, OpenVINO's NNCF); LiteRT quantises in its
# converter (ghostv2_mm.deploy.mobile).
QUANTIZERS = ('onnxruntime', 'openvino')


def quantize(onnx_file, backend, precision, calib_inputs, work_dir, sensitive_layers=None,
             quantize_only=None, float_max_side=None):
    """Quantise an exported ONNX model with the runtime's own post-training quantisation.

    Args:
        onnx_file (str): The float model (e.g. mmdeploy's ``end2end.onnx``), exported with the
            backend's int8 profile (:func:`..profiles.resolve`).
        backend (str): ``'onnxruntime'`` (``end2end_int8.onnx``, QDQ) or ``'openvino'``
            (``end2end_int8.xml/.bin``, NNCF).
        precision (str): ``'int8'`` (bf16 is OpenVINO's inference precision, no new file).
        calib_inputs (Iterable[np.ndarray]): Pre-processed (N, 3, H, W) float32 inputs,
            e.g. from :func:`dataset_inputs` on training images.
        work_dir (str): Where the files are written.
        sensitive_layers (Iterable[str], optional): Layers kept in float, as
            :func:`select_nodes` takes them. None: ``DEFAULT_SENSITIVE_LAYERS[backend]``; ``[]``:
            quantise every layer (the post-processing stays float).
        quantize_only (Iterable[str], optional): Quantise only these layers (same forms), for
            sensitivity analysis; the others stay float. Defaults to None (all but
            ``sensitive_layers``).
        float_max_side (int, optional): Keep float the layers on feature maps of at most this
            side (:func:`small_map_nodes`, at the calibration inputs' size) whatever the other
            arguments say. None: :data:`OPENVINO_FLOAT_MAX_SIDE` for OpenVINO, 0 for ONNX
            Runtime.

    Returns:
        dict: ``files`` (the files written), ``ignored`` (the names of the ONNX nodes kept in
        float because of ``sensitive_layers`` or ``quantize_only``), ``postprocess`` (the
        post-processing nodes, always float) and ``small_maps`` (the other nodes kept float
        because they compute on maps of at most ``float_max_side``).

    Raises:
        RuntimeCrash: OpenVINO crashed running the int8 file once on this CPU (in a subprocess).
    """
    check_choice('backend', backend, QUANTIZERS)
    check_choice('precision', precision, ('int8', ))
    os.makedirs(work_dir, exist_ok=True)
    calib = list(samples(calib_inputs))
    if not calib:
        raise ValueError('calib_inputs is empty')
    source, temporary = onnx_file, []
    if backend == 'onnxruntime':
        source = prepare(onnx_file, osp.join(work_dir, 'end2end_preprocessed.onnx'))
        temporary.append(source)
    model = onnx.load(source)
    renamed = name_nodes(model)
    if profiles.resolve(backend, precision).apply_graph(model) or renamed:
        source = osp.join(work_dir, 'end2end_named.onnx')
        onnx.save(model, source)
        temporary.append(source)
    groups = layer_groups(model)
    postprocess = groups['postprocess']
    if quantize_only is not None:
        kept = set(select_nodes(model, quantize_only, groups))
        ignored = [n.name for n in model.graph.node if n.name not in kept]
    else:
        layers = DEFAULT_SENSITIVE_LAYERS[backend] if sensitive_layers is None \
            else sensitive_layers
        ignored = select_nodes(model, layers, groups)
    if float_max_side is None:
        float_max_side = OPENVINO_FLOAT_MAX_SIDE if backend == 'openvino' else 0
    small_maps = small_map_nodes(model, calib[0].shape, float_max_side, groups) \
        if float_max_side else []
    excluded = set(ignored) | set(postprocess) | set(small_maps)
    excluded = [n.name for n in model.graph.node if n.name in excluded]
    if backend == 'onnxruntime':
        files = [quantize_qdq(source, input_name(model), calib, excluded, work_dir, postprocess)]
    else:
        files = quantize_nncf(source, calib, excluded, work_dir)
        try:
            check_runs(files[0], backend, precision, calib[0])
        except RuntimeCrash as e:
            raise RuntimeCrash(f'{e}; keep more layers float (sensitive_layers), or run OpenVINO '
                               'without AMX (ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI)') from None
    for path in temporary:
        os.remove(path)
    ignored = [name for name in ignored if name not in set(postprocess)]
    small_maps = [name for name in small_maps if name not in set(ignored) | set(postprocess)]
    return dict(files=files, ignored=ignored, postprocess=postprocess, small_maps=small_maps)
