"""The steps of the deployment tools (docs/deployment.md): a checkpoint to the backend's files
and SDK description (``deploy.py``), predictions and metrics of PyTorch and the backend
(``parity.py``), and the deploy config of a model (``benchmark.py``)."""
import copy
import glob
import json
import os
import os.path as osp
import re

from ..utils import innermost_dataset

# The backend whose rewriters trace the graph of a backend without its own: ncnn and LiteRT
# convert ONNX Runtime's graph (mmdeploy's ncnn rewriters put in ncnn's custom ops), which ONNX
# Runtime then runs as a reference.
EXPORT_BACKEND = {'ncnn': 'onnxruntime', 'litert': 'onnxruntime'}


def inference_structure(model_cfg, checkpoint, work_dir):
    """The (config, checkpoint) to export: for a GhostNetV2 backbone, the deploy checkpoint (BN
    folded) written to ``work_dir`` and the config with ``model.backbone.deploy=True``."""
    if model_cfg.model.get('backbone', {}).get('type', '').split('.')[-1] != 'GhostNetV2':
        return model_cfg, checkpoint
    from ..apis import reparameterize_checkpoint
    options = {'model.backbone.init_cfg': None}
    out = osp.join(work_dir, osp.splitext(osp.basename(checkpoint))[0] + '_deploy.pth')
    reparameterize_checkpoint(model_cfg, checkpoint, out, options)
    cfg = model_cfg.copy()
    cfg.merge_from_dict(dict(options, **{'model.backbone.deploy': True}))
    return cfg, out


def export(img, work_dir, deploy_cfg, model_cfg, checkpoint, device='cpu', precision='fp32'):
    """mmdeploy's ONNX export (as its ``torch2onnx`` calls it) of the inference structure in the
    deployment's export profile, with the rewriters of the backend or of its
    :data:`EXPORT_BACKEND`; returns the ONNX file."""
    import torch
    from mmdeploy.apis.core.pipeline_manager import no_mp
    from mmdeploy.apis.onnx import export as onnx_export
    from mmdeploy.utils import (get_backend, get_dynamic_axes, get_input_shape, get_ir_config,
                                is_dynamic_shape)

    from .backends import build_task_processor
    from .postprocess import METADATA_KEY
    from .profiles import resolve
    from .rewriters import graph_postprocess
    cfg, ckpt = inference_structure(model_cfg, checkpoint, work_dir)
    processor, deploy_cfg, cfg = build_task_processor(cfg, deploy_cfg, device)
    backend = get_backend(deploy_cfg).value
    profile = resolve(backend, precision, static=not is_dynamic_shape(deploy_cfg))
    model = processor.build_pytorch_model(ckpt)
    if hasattr(model, 'backbone'):
        model.backbone = profile.apply(model.backbone)
    data, inputs = processor.create_input(img, get_input_shape(deploy_cfg),
                                          data_preprocessor=model.data_preprocessor)
    if isinstance(inputs, list) and len(inputs) == 1:
        inputs = inputs[0]
    onnx_cfg = get_ir_config(deploy_cfg)
    prefix = osp.join(work_dir, osp.splitext(osp.basename(onnx_cfg['save_file']))[0])
    with torch.no_grad(), no_mp():
        onnx_export(model, inputs, prefix, EXPORT_BACKEND.get(backend, backend),
                    input_metas={'data_samples': data['data_samples'], 'mode': 'predict'},
                    context_info={'deploy_cfg': deploy_cfg},
                    input_names=onnx_cfg['input_names'], output_names=onnx_cfg['output_names'],
                    opset_version=onnx_cfg.get('opset_version', 11),
                    dynamic_axes=get_dynamic_axes(deploy_cfg),
                    verbose=not onnx_cfg.get('strip_doc_string', True) or
                    onnx_cfg.get('verbose', False),
                    keep_initializers_as_inputs=onnx_cfg.get('keep_initializers_as_inputs', True),
                    optimize=onnx_cfg.get('optimize', False))
        spec = graph_postprocess(model, inputs, deploy_cfg)
    if spec is not None:  # the post-processing left to the runtime, in the file's metadata
        import onnx
        onnx_model = onnx.load(prefix + '.onnx')
        onnx.helper.set_model_props(onnx_model, {METADATA_KEY: json.dumps(spec)})
        onnx.save(onnx_model, prefix + '.onnx')
    return prefix + '.onnx'


def dump_info(deploy_cfg, model_cfg, work_dir, checkpoint, backend_files, precision,
              device='cpu'):
    """Write mmdeploy's SDK description (``deploy.json``, ``pipeline.json``, ``detail.json``),
    with ``backend_files``, ``precision`` and the dataset's ``classes`` (and ``palette``), which
    the SDK files lack, in ``deploy.json``."""
    import mmengine
    from mmdeploy.backend.sdk.export_info import export2SDK

    # export2SDK edits the configs' test pipelines in place.
    export2SDK(copy.deepcopy(deploy_cfg), copy.deepcopy(model_cfg), work_dir, pth=checkpoint,
               device=device)
    path = osp.join(work_dir, 'deploy.json')
    info = mmengine.load(path)
    model = info['models'][0]
    model['net'] = osp.basename(backend_files[0])
    model['weights'] = osp.basename(backend_files[1]) if len(backend_files) > 1 else ''
    model['precision'] = precision.upper()
    info.update(dataset_meta(model_cfg))
    mmengine.dump(info, path, indent=4)


def predict(task_processor, model, img):
    """The prediction (a data sample) of a PyTorch or backend ``model`` for image ``img``."""
    import torch
    from mmdeploy.utils import get_input_shape
    data, _ = task_processor.create_input(img, get_input_shape(task_processor.deploy_cfg))
    with torch.no_grad():
        return model.test_step(data)[0]


def draw(task_processor, img, prediction, out_file, show=False):
    """Draw ``prediction`` on image file ``img`` into ``out_file`` (for segmentation not with
    the task processor's ``visualize``, which ignores ``out_file``)."""
    import mmcv
    name = osp.splitext(osp.basename(out_file))[0]
    if 'pred_sem_seg' not in prediction:
        task_processor.visualize(img, prediction, out_file, window_name=name, show_result=show)
        return
    visualizer = task_processor.get_visualizer(name, osp.dirname(out_file))
    visualizer.add_datasample(name, mmcv.imread(img, channel_order='rgb'),
                              data_sample=prediction.cpu(), draw_gt=False, show=show,
                              out_file=out_file)


def dataset_meta(model_cfg):
    """``classes`` and ``palette`` of the model config's dataset, where it names them."""
    for loader in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        meta = innermost_dataset(model_cfg.get(loader, {}).get('dataset', {})).get('metainfo', {})
        if meta.get('classes'):
            return {key: list(meta[key]) for key in ('classes', 'palette') if meta.get(key)}
    return {}


def deploy(deploy_cfg, model_cfg, checkpoint, img, work_dir, device='cpu', precision=None,
           calib_dataset_cfg=None, calib_num=100):
    """Convert ``checkpoint`` into the backend files of ``deploy_cfg`` (not changed) in
    ``work_dir`` with the SDK description, tracing image ``img``: ``deploy.py`` before it
    compares. ``precision`` (one of the backend's ``runtime.PRECISIONS``, errors naming it
    ``--precision``) defaults to ``backend_config.precision``, else fp32; int8 is calibrated on
    ``calib_num`` training images of ``calib_dataset_cfg`` (default: ``model_cfg``).

    Returns:
        tuple[BaseTask, list[str], str]: mmdeploy's task processor, the backend files (the model
        first) and the precision.
    """
    from mmdeploy.apis.utils import to_backend
    from mmdeploy.utils import get_backend, get_input_shape, load_config

    from .backends import MOBILE_BACKENDS, build_task_processor, register
    from .runtime import check_precision
    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    deploy_cfg = copy.deepcopy(deploy_cfg)
    register()  # the package's backends, LiteRT among them
    backend = get_backend(deploy_cfg).value
    precision = precision or deploy_cfg.backend_config.get('precision', 'fp32')
    check_precision(backend, precision, '--precision', 'backend_config.type')
    if backend == 'openvino':
        # An int8 IR runs its float (sensitive) layers in f32.
        deploy_cfg.backend_config.precision = 'bf16' if precision == 'bf16' else 'fp32'
    elif backend in MOBILE_BACKENDS:
        from .mobile import check_installed
        check_installed(backend)  # before an export that could not be converted or run
        # Their converters write the file of each precision.
        deploy_cfg.backend_config.precision = precision
    task_processor, deploy_cfg, model_cfg = build_task_processor(model_cfg, deploy_cfg, device)
    os.makedirs(work_dir, exist_ok=True)

    onnx_file = export(img, work_dir, deploy_cfg, model_cfg, checkpoint, device, precision)
    calib = None
    if precision == 'int8':
        from .quantize import dataset_inputs
        shape = get_input_shape(deploy_cfg)
        calib, _ = dataset_inputs(calib_dataset_cfg or model_cfg, 'train', calib_num,
                                  shape and tuple(reversed(shape)))
        print(f'calibrating int8 on {len(calib)} training images')
    # The mobile converters quantise; ONNX Runtime's and OpenVINO's files are quantised after.
    mobile = backend in MOBILE_BACKENDS
    files = to_backend(backend, [onnx_file], work_dir=work_dir, deploy_cfg=deploy_cfg,
                       device=device, calib_inputs=calib if mobile else None)
    if calib is not None and not mobile:
        from .quantize import quantize
        files = quantize(onnx_file, backend, 'int8', calib, work_dir)['files']
    dump_info(deploy_cfg, model_cfg, work_dir, checkpoint, files, precision, device)
    print(f'{backend} {precision}: {", ".join(files)}')
    return task_processor, files, precision


def evaluate(models, dataloader, model_cfg, reference=None):
    """The model config's test evaluator for each of ``models`` (name -> PyTorch or mmdeploy
    backend model) on ``dataloader``, every batch given to each model.

    Returns:
        tuple[dict, dict]: The metrics of each model, and the per-image differences
        (:func:`.compare.difference`) of each model but ``reference`` (a name of ``models``)
        with it (empty without one).
    """
    import torch
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope

    from .compare import difference
    diffs = {name: [] for name in models if reference and name != reference}
    with DefaultScope.overwrite_default_scope(model_cfg.get('default_scope', 'mmengine')):
        evaluators = {}
        for name in models:
            evaluators[name] = Evaluator(copy.deepcopy(model_cfg.test_evaluator))
            evaluators[name].dataset_meta = dataloader.dataset.metainfo
        with torch.no_grad():
            for data in dataloader:
                # test_step writes the predictions into the batch's data samples: one copy each.
                preds = {name: model.test_step(copy.deepcopy(data))
                         for name, model in models.items()}
                for name, evaluator in evaluators.items():
                    evaluator.process(data_samples=preds[name], data_batch=data)
                for name in diffs:
                    diffs[name] += [difference(ref, res)
                                    for ref, res in zip(preds[reference], preds[name])]
        metrics = {name: evaluator.evaluate(len(dataloader.dataset))
                   for name, evaluator in evaluators.items()}
    return metrics, diffs


def summarize(diffs):
    """Aggregate per-image :func:`.compare.difference` dicts."""
    import numpy as np
    if 'pixel_agreement' in diffs[0]:
        agreement = [d['pixel_agreement'] for d in diffs]
        return dict(images=len(diffs), mean_pixel_agreement=float(np.mean(agreement)),
                    min_pixel_agreement=float(np.min(agreement)))
    if 'same_top1' in diffs[0]:
        return dict(images=len(diffs),
                    top1_agreement=float(np.mean([d['same_top1'] for d in diffs])),
                    max_score_diff=float(max(d['max_score_diff'] for d in diffs)))
    ious = [d['mean_iou'] for d in diffs if d['num_ref'] and d['matched']]
    return dict(images=len(diffs),
                boxes_pytorch=int(sum(d['num_ref'] for d in diffs)),
                boxes_deployed=int(sum(d['num'] for d in diffs)),
                matched=float(np.mean([d['matched'] for d in diffs])),
                mean_iou=float(np.mean(ious)) if ious else float('nan'),
                max_score_diff=float(max(d['max_score_diff'] for d in diffs)),
                same_box_count=float(np.mean([d['num'] == d['num_ref'] for d in diffs])))


# configs/mmdeploy/'s static configs: {task}[-{model}]_{backend}_static[-HxW].py.
STATIC_DEPLOY_CFG = re.compile(r'(detection|segmentation|classification|instance-seg)'
                               r'(?:-([a-z0-9-]+))?_([a-z]+)_static(?:-(\d+)x(\d+))?\.py$')
# default_scope -> mmdeploy task.
TASKS = {'mmpretrain': 'classification', 'mmdet': 'detection', 'mmseg': 'segmentation'}


def find_deploy_config(model_cfg, backend, deploy_cfg_dir):
    """The static deploy config of ``backend`` in ``deploy_cfg_dir`` for ``model_cfg``: of its
    task (``default_scope``; an mmdet ``segm`` evaluator: instance-seg) and model family (the
    config file's name up to its first ``_``) where the folder has configs of that family, else
    the task's plain config, at the (H, W) of the test pipeline's ``Resize`` where it names one.

    Raises:
        DeployError: no deploy config fits; the message names the one looked for.
    """
    from ..errors import DeployError
    task = TASKS.get(model_cfg.get('default_scope'))
    metric = model_cfg.get('test_evaluator', {}).get('metric', ())
    if task == 'detection' and 'segm' in ([metric] if isinstance(metric, str) else metric):
        task = 'instance-seg'
    size = None
    pipeline = model_cfg.get('test_pipeline') or model_cfg.test_dataloader.dataset.get(
        'pipeline', [])
    for transform in pipeline:
        scale = transform.get('scale')
        if transform['type'].split('.')[-1] == 'Resize' and isinstance(scale, (tuple, list)):
            size = (scale[1], scale[0])  # mmdet and mmseg give (W, H)
    files = sorted(map(osp.basename, glob.glob(osp.join(deploy_cfg_dir, '*.py'))))
    names = {f: m.groups() for f, m in zip(files, map(STATIC_DEPLOY_CFG.match, files)) if m}
    family = osp.basename(model_cfg.filename or '').split('_')[0]
    if family not in {model for name_task, model, *_ in names.values() if name_task == task}:
        family = None
    for file, (name_task, model, name_backend, h, w) in names.items():
        if (name_task, model, name_backend) == (task, family, backend) and \
                (h is None or (int(h), int(w)) == size):
            return osp.join(deploy_cfg_dir, file)
    raise DeployError(
        f'{deploy_cfg_dir} has no deploy config {task}{"-" + family if family else ""}_'
        f'{backend}_static{"-%dx%d" % size if size else ""}.py for {model_cfg.filename}')
