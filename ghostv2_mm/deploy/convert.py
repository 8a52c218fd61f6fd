"""The steps of ``tools/deployment/deploy.py``: from a trained checkpoint to the backend's files,
the SDK description (``deploy.json``, ``pipeline.json``, ``detail.json``) and a comparison of
the backend with PyTorch on an image."""
import copy
import json
import os.path as osp

import numpy as np

BACKENDS = ('onnxruntime', 'openvino')
PRECISIONS = {'onnxruntime': ('fp32', 'int8'), 'openvino': ('fp32', 'bf16', 'int8')}
# The inference structure's channel padding per backend (GhostNetV2's ``pad_channels``): ONNX
# Runtime's blocked CPU kernels need multiples of 16 channels; OpenVINO, whose CPU plugin runs
# these models channels-last, is faster without (docs/performance.md).
PAD_CHANNELS = {'onnxruntime': 16, 'openvino': None}
# Precisions whose static padded files take the blocked-layout gates: ONNX Runtime runs fp32
# graphs in its blocked layout, int8 graphs in its NHWC int8 kernels, where the up-sampled SE
# gates only add work (docs/performance.md); the file to quantise keeps the plain gates.
BLOCKED_GATE_PRECISIONS = ('fp32', )
# Precisions whose padded files compute the DFC pooling as a depthwise conv: ONNX Runtime's int8
# average pooling is slow, its int8 depthwise conv fast (docs/performance.md).
CONV_POOLING_PRECISIONS = ('int8', )


def check_image(path, argument='IMAGE'):
    """Fail with one line naming ``argument`` when ``path`` is not a readable image."""
    import cv2
    if not osp.isfile(path):
        raise SystemExit(f'{argument} {path} does not exist')
    if cv2.imread(path) is None:
        raise SystemExit(f'{argument} {path} is not an image OpenCV can read')


def check_precision(backend, precision):
    """Fail with one line when ``backend`` has no ``precision``."""
    if backend not in BACKENDS:
        raise SystemExit(f'backend_config.type must be one of {BACKENDS}, but the deploy config '
                         f'gives {backend!r}')
    if precision not in PRECISIONS[backend]:
        raise SystemExit(f'--precision {precision} is not available for {backend} (choose from '
                         f'{", ".join(PRECISIONS[backend])}; bf16 is an OpenVINO inference '
                         'precision)')


def has_inference_structure(model_cfg):
    """Whether the config's backbone is a GhostNetV2 (which has a deploy structure)."""
    return model_cfg.model.get('backbone', {}).get('type', '').split('.')[-1] == 'GhostNetV2'


def inference_structure(model_cfg, checkpoint, work_dir, backend=None):
    """The (config, checkpoint) to export: for a GhostNetV2 backbone, the deploy checkpoint
    (BN folded, channels padded as ``backend`` runs them fastest: :data:`PAD_CHANNELS`;
    ``ghostv2_mm.apis.reparameterize_checkpoint``) written to ``work_dir`` and the config with
    ``model.backbone.deploy=True``; any other model as it is."""
    if not has_inference_structure(model_cfg):
        return model_cfg, checkpoint
    from ..apis import reparameterize_checkpoint
    options = {'model.backbone.init_cfg': None,
               'model.backbone.pad_channels': PAD_CHANNELS.get(backend)}
    out = osp.join(work_dir, osp.splitext(osp.basename(checkpoint))[0] + '_deploy.pth')
    reparameterize_checkpoint(model_cfg, checkpoint, out, options)
    cfg = model_cfg.copy()
    cfg.merge_from_dict(dict(options, **{'model.backbone.deploy': True}))
    return cfg, out


def export(img, work_dir, deploy_cfg, model_cfg, checkpoint, device='cpu', precision='fp32'):
    """mmdeploy's ``torch2onnx`` of the inference structure (with the blocked-layout gates when
    the deploy config is static and ``precision`` is in :data:`BLOCKED_GATE_PRECISIONS`:
    :func:`~ghostv2_mm.models.deploy.blocked_gates`; with the DFC pooling as a conv when
    ``precision`` is in :data:`CONV_POOLING_PRECISIONS`:
    :func:`~ghostv2_mm.models.deploy.conv_pooling`); returns the ONNX file. Both forms exist
    in padded structures only (:data:`PAD_CHANNELS`)."""
    from mmdeploy.apis import torch2onnx
    from mmdeploy.utils import get_backend, get_ir_config, is_dynamic_shape

    from ..models.deploy import blocked_gates, conv_pooling
    cfg, ckpt = inference_structure(model_cfg, checkpoint, work_dir,
                                    get_backend(deploy_cfg).value)
    save_file = get_ir_config(deploy_cfg)['save_file']
    blocked = not is_dynamic_shape(deploy_cfg) and precision in BLOCKED_GATE_PRECISIONS
    with blocked_gates(blocked), conv_pooling(precision in CONV_POOLING_PRECISIONS):
        torch2onnx(img, work_dir, save_file, deploy_cfg, cfg, ckpt, device=device)
    return osp.join(work_dir, save_file)


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


class CalibrationImages:
    """Pre-processed inputs of the images of a dataset, as the deployed model takes them
    (mmdeploy's ``create_input``: the test pipeline at the deploy config's input shape and the
    data pre-processor), computed when indexed. The images are the dataset's, not its training
    augmentations.

    Args:
        task_processor (BaseTask): mmdeploy's task processor of the deployment.
        dataset_cfg (Config): Config with a ``{split}_dataloader``.
        split (str): Which dataloader's dataset.
        num (int): How many images, spread evenly over the dataset.
    """

    def __init__(self, task_processor, dataset_cfg, split='train', num=100):
        from mmdeploy.utils import get_input_shape
        from mmengine.registry import DefaultScope
        loader = dataset_cfg.get(f'{split}_dataloader')
        if loader is None:
            raise SystemExit(f'--calib-dataset-cfg: the config has no {split}_dataloader')
        dataset = loader.dataset.copy()
        while 'dataset' in dataset:  # RepeatDataset and other wrappers
            dataset = dataset.dataset
        dataset.pipeline = []
        scope = task_processor.model_cfg.get('default_scope', 'mmengine')
        with DefaultScope.overwrite_default_scope(scope):
            dataset = task_processor.build_dataset(dataset)
        positions = np.linspace(0, len(dataset) - 1, min(num, len(dataset))).round()
        self.paths = [dataset.get_data_info(int(i))['img_path'] for i in positions]
        self.task_processor = task_processor
        self.input_shape = get_input_shape(task_processor.deploy_cfg)
        self.preprocessor = task_processor.build_data_preprocessor()

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        import torch
        with torch.no_grad():
            _, inputs = self.task_processor.create_input(self.paths[index], self.input_shape,
                                                         self.preprocessor)
        return inputs.numpy().astype(np.float32)


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
    for loader in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = model_cfg.get(loader, {}).get('dataset', {})
        while 'dataset' in dataset:
            dataset = dataset['dataset']
        meta = dataset.get('metainfo', {})
        if meta.get('classes'):
            found = dict(classes=list(meta['classes']))
            if meta.get('palette'):
                found['palette'] = [list(color) for color in meta['palette']]
            return found
    return {}
