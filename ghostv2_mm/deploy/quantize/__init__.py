"""Post-training int8 quantisation of deployed ONNX models with the runtimes' own tools: ONNX
Runtime's QDQ (``end2end_int8.onnx``) and OpenVINO's NNCF (``end2end_int8.xml/.bin``), the layers
named by the graph's structure (:mod:`.groups`); see docs/quantization.md. Only numpy and onnx are
imported here; each runtime when used.
"""
import os
import os.path as osp

import onnx

from ...errors import RuntimeCrash
from ...utils import check_choice
from .. import profiles
from ..runtime import check_runs, has_vnni
from .calibration import dataset_inputs, samples
from .fidelity import fidelity, matched_box_iou, pixel_agreement, top1_agreement
from .groups import (COMPUTE_OPS, GROUPS, graph_input, layer_groups, name_nodes, select_nodes,
                     small_map_nodes, unshare_parameters)
from .onnxruntime_qdq import prepare, quantize_qdq
from .openvino_nncf import quantize_nncf

# Layers kept in float by default (measured with tools/deployment/quant_sensitivity.py): the stem
# and the output layers, cheap in float; for ONNX Runtime the DFC convs too, no faster in int8.
DEFAULT_SENSITIVE_LAYERS = {
    'onnxruntime': ('dfc.proj', 'dfc.hfc', 'dfc.vfc', 'output'),
    'openvino': ('stem', 'output'),
}
# OpenVINO's int8 AMX kernels crash (SIGSEGV) on layers at maps of at most this side: kept float.
OPENVINO_FLOAT_MAX_SIDE = 4

__all__ = ['quantize', 'DEFAULT_SENSITIVE_LAYERS', 'OPENVINO_FLOAT_MAX_SIDE', 'COMPUTE_OPS',
           'GROUPS', 'layer_groups', 'name_nodes', 'select_nodes', 'small_map_nodes',
           'unshare_parameters', 'dataset_inputs', 'fidelity', 'matched_box_iou',
           'pixel_agreement', 'top1_agreement']
# LiteRT quantises in its converter (ghostv2_mm.deploy.mobile).
QUANTIZERS = ('onnxruntime', 'openvino')


def quantize(onnx_file, backend, precision, calib_inputs, work_dir, sensitive_layers=None,
             quantize_only=None, float_max_side=None, reduce_range=None):
    """Quantise ``onnx_file`` (exported with the backend's int8 profile) to ``precision`` int8 in
    ``work_dir`` with ``backend``'s post-training quantisation, calibrated on ``calib_inputs``
    ((N, 3, H, W) float32 arrays, pre-processed).

    Args:
        sensitive_layers (Iterable[str], optional): Layers kept in float (:func:`select_nodes`).
            None: ``DEFAULT_SENSITIVE_LAYERS[backend]``; ``[]``: quantise every layer.
        quantize_only (Iterable[str], optional): Quantise only these layers (same forms).
        float_max_side (int, optional): Keep float the layers on maps of at most this side
            (:func:`small_map_nodes`). None: :data:`OPENVINO_FLOAT_MAX_SIDE` for OpenVINO, else 0.
        reduce_range (bool, optional): ONNX Runtime: 7-bit weights, so that its int8 kernels on
            x86 CPUs without VNNI do not saturate. None: when this CPU lacks VNNI
            (:func:`~ghostv2_mm.deploy.runtime.has_vnni`).

    Returns:
        dict: ``files`` (written), ``ignored`` (nodes kept float by ``sensitive_layers`` or
        ``quantize_only``), ``postprocess`` (always float) and ``small_maps`` (the other nodes kept
        float by ``float_max_side``), node names in graph order, and ``reduce_range``.

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
    names = [n.name for n in model.graph.node]
    postprocess = set(groups['postprocess'])
    if quantize_only is not None:
        ignored = set(names) - set(select_nodes(model, quantize_only, groups))
    else:
        if sensitive_layers is None:
            sensitive_layers = DEFAULT_SENSITIVE_LAYERS[backend]
        ignored = set(select_nodes(model, sensitive_layers, groups))
    ignored -= postprocess
    if float_max_side is None:
        float_max_side = OPENVINO_FLOAT_MAX_SIDE if backend == 'openvino' else 0
    small_maps = set(small_map_nodes(model, calib[0].shape, float_max_side, groups)
                     if float_max_side else ()) - ignored - postprocess
    excluded = [name for name in names if name in ignored | postprocess | small_maps]
    if backend == 'onnxruntime':
        if reduce_range is None:
            reduce_range = not has_vnni()
        files = [quantize_qdq(source, graph_input(model).name, calib, excluded, work_dir,
                              groups['postprocess'], reduce_range)]
    else:
        reduce_range = False  # NNCF has an overflow fix of its own
        files = quantize_nncf(source, calib, excluded, work_dir)
        try:
            check_runs(files[0], backend, precision, calib[0])
        except RuntimeCrash as e:
            raise RuntimeCrash(f'{e}; keep more layers float (sensitive_layers), or run OpenVINO '
                               'without AMX (ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI)') from None
    for path in temporary:
        os.remove(path)
    return dict(files=files, ignored=[name for name in names if name in ignored],
                postprocess=groups['postprocess'],
                small_maps=[name for name in names if name in small_maps],
                reduce_range=reduce_range)
