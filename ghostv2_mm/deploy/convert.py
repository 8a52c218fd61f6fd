"""The steps of ``tools/deployment/deploy.py``: from a trained checkpoint to the backend's files,
the SDK description (``deploy.json``, ``pipeline.json``, ``detail.json``) and a comparison of
the backend with PyTorch on an image."""
import copy
import json
import os.path as osp

# The backend whose rewriters trace the graph of each backend that has none of its own: ncnn and
# LiteRT convert the graph the package exports for ONNX Runtime (its rewriters put mmdet's
# post-processing in the graph as mmdet runs it; mmdeploy's ncnn rewriters replace it with
# ncnn's custom ops), so that ONNX Runtime runs the same file as a reference.
EXPORT_BACKEND = {'ncnn': 'onnxruntime', 'litert': 'onnxruntime'}


def inference_structure(model_cfg, checkpoint, work_dir):
    """The (config, checkpoint) to export: for a GhostNetV2 backbone, the deploy checkpoint (BN
    folded; ``ghostv2_mm.apis.reparameterize_checkpoint``) written to ``work_dir`` and the
    config with ``model.backbone.deploy=True``; any other model as it is."""
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
    """mmdeploy's ONNX export (``mmdeploy.apis.onnx.export`` with its rewriters, as its
    ``torch2onnx`` calls it) of the inference structure transformed by the deployment's export
    profile (:func:`.profiles.resolve` of the deploy config's backend, ``precision`` and static
    or dynamic input), traced with the rewriters of the backend or of its
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
    names = onnx_cfg['input_names'] + onnx_cfg['output_names']
    prefix = osp.join(work_dir, osp.splitext(osp.basename(onnx_cfg['save_file']))[0])
    with torch.no_grad(), no_mp():
        onnx_export(model, inputs, prefix, EXPORT_BACKEND.get(backend, backend),
                    input_metas={'data_samples': data['data_samples'], 'mode': 'predict'},
                    context_info={'deploy_cfg': deploy_cfg},
                    input_names=onnx_cfg['input_names'],
                    output_names=onnx_cfg['output_names'],
                    opset_version=onnx_cfg.get('opset_version', 11),
                    dynamic_axes=get_dynamic_axes(deploy_cfg, names),
                    verbose=not onnx_cfg.get('strip_doc_string', True) or
                    onnx_cfg.get('verbose', False),
                    keep_initializers_as_inputs=onnx_cfg.get('keep_initializers_as_inputs',
                                                             True),
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
    """mmdeploy's SDK description of the deployment (``deploy.json``, ``pipeline.json``,
    ``detail.json``), naming ``backend_files`` and ``precision`` in ``deploy.json``, and the
    dataset's ``classes`` (and ``palette``), which the SDK files do not carry, for drawing."""
    from mmdeploy.backend.sdk.export_info import export2SDK

    # export2SDK edits the configs' test pipelines in place.
    export2SDK(copy.deepcopy(deploy_cfg), copy.deepcopy(model_cfg), work_dir, pth=checkpoint,
               device=device)
    path = osp.join(work_dir, 'deploy.json')
    with open(path) as f:
        info = json.load(f)
    model = info['models'][0]
    model['net'] = osp.basename(backend_files[0])
    model['weights'] = osp.basename(backend_files[1]) if len(backend_files) > 1 else ''
    model['precision'] = precision.upper()
    info.update(dataset_meta(model_cfg))
    with open(path, 'w') as f:
        json.dump(info, f, indent=4)


def predict(task_processor, model, img):
    """The prediction (a data sample) of a PyTorch or backend ``model`` for image ``img``, with
    the deployment's pre-processing."""
    import torch
    from mmdeploy.utils import get_input_shape
    data, _ = task_processor.create_input(img, get_input_shape(task_processor.deploy_cfg))
    with torch.no_grad():
        return model.test_step(data)[0]


def draw(task_processor, img, prediction, out_file, show=False):
    """Draw ``prediction`` on image file ``img`` into ``out_file`` (the task processor's
    ``visualize``, except for segmentation, whose ``visualize`` ignores ``out_file``)."""
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
    from .quantize.calibration import innermost_dataset
    for loader in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        meta = innermost_dataset(model_cfg.get(loader, {}).get('dataset', {})).get('metainfo', {})
        if meta.get('classes'):
            found = dict(classes=list(meta['classes']))
            if meta.get('palette'):
                found['palette'] = [list(color) for color in meta['palette']]
            return found
    return {}
