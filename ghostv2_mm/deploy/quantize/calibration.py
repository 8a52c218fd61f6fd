"""Calibration and evaluation inputs: images of a model config's dataset pre-processed as the
deployed model takes them."""
import numpy as np

from ...errors import DeployError
from ...utils import innermost_dataset


def samples(inputs):
    """One (1, 3, H, W) float32 image at a time of (N, 3, H, W) arrays (for static exports)."""
    for batch in inputs:
        batch = np.asarray(batch, dtype=np.float32)
        for i in range(batch.shape[0]):
            yield batch[i:i + 1]


def dataset_inputs(config, split='train', num=None, shape=None):
    """``num`` images (default: all, else spread evenly) of the ``split`` (``'train'`` or
    ``'val'``) set of an mmpretrain/mmdet/mmseg ``config``, as the deployed model takes them (test
    pipeline, data pre-processor, padded to ``shape`` (H, W) if given), and their
    ``data_samples``: a list of (1, 3, H, W) float32 arrays and one of dicts. Needs PyTorch."""
    import importlib

    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from ...apis import build_model
    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    scope = cfg.get('default_scope', 'mmengine')
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope), torch.no_grad():
        loader = cfg.get(f'{split}_dataloader')
        if loader is None:
            raise DeployError(f'the config has no {split}_dataloader to take images from')
        dataset_cfg = innermost_dataset(loader.dataset).copy()
        dataset_cfg.pipeline = cfg.get('test_pipeline', cfg.val_dataloader.dataset.pipeline)
        if split == 'train' and scope == 'mmdet':
            dataset_cfg['filter_cfg'] = None
        dataset = registry.DATASETS.build(dataset_cfg)
        preprocessor = build_model(cfg, {'model.backbone.init_cfg': None}).data_preprocessor
        indices = range(len(dataset)) if num is None else \
            np.linspace(0, len(dataset) - 1, min(num, len(dataset))).round().astype(int)
        inputs, samples = [], []
        for i in indices:
            data = preprocessor(pseudo_collate([dataset[int(i)]]), False)
            x = data['inputs']
            h, w = x.shape[-2:]
            if shape is not None and (h, w) != tuple(shape):
                if h > shape[0] or w > shape[1]:
                    raise ValueError(f'image {i} is {h}x{w} after pre-processing, larger than '
                                     f'the static input {shape}')
                x = torch.nn.functional.pad(x, (0, shape[1] - w, 0, shape[0] - h))
            inputs.append(x.numpy().astype(np.float32))
            samples.append(data['data_samples'][0])
        return inputs, samples
