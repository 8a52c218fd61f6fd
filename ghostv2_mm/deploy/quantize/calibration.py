"""Calibration and evaluation inputs: images of a model config's dataset pre-processed as the
deployed model takes them."""
import numpy as np

from ...errors import DeployError


def innermost_dataset(dataset_cfg):
    """The dataset a config's ``dataset`` entry wraps (``RepeatDataset`` and other wrappers take
    theirs as ``dataset``)."""
    while 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def samples(inputs):
    """One (1, 3, H, W) float32 image at a time of (N, 3, H, W) arrays (static exports take batch
    1; the statistics are the same)."""
    for batch in inputs:
        batch = np.asarray(batch, dtype=np.float32)
        for i in range(batch.shape[0]):
            yield batch[i:i + 1]


def dataset_inputs(config, split='train', num=None, shape=None):
    """Pre-processed inputs of a model config's dataset, as the deployed model takes them: the
    test pipeline (no augmentation) and the model's data pre-processor (normalisation, BGR to
    RGB, padding), one image per array. Needs PyTorch and the config's OpenMMLab library.

    Args:
        config (str | Config): An mmpretrain/mmdet/mmseg config.
        split (str): ``'train'`` (calibration) or ``'val'``. Defaults to ``'train'``.
        num (int, optional): How many images (spread evenly over the set). Defaults to all.
        shape (tuple[int, int], optional): Pad or check to this (H, W), for static exports.

    Returns:
        tuple[list[np.ndarray], list[dict]]: The (1, 3, H, W) float32 inputs and each image's
        ``data_samples`` (ground truth and meta information) for evaluation.
    """
    import importlib

    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from ...apis import build_model
    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    scope = cfg.get('default_scope', 'mmengine')
    registry = importlib.import_module(f'{scope}.registry')
    with DefaultScope.overwrite_default_scope(scope):
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
            with torch.no_grad():
                data = preprocessor(pseudo_collate([dataset[int(i)]]), False)
            x = data['inputs']
            if shape is not None and tuple(x.shape[-2:]) != tuple(shape):
                h, w = x.shape[-2:]
                if h > shape[0] or w > shape[1]:
                    raise ValueError(f'image {i} is {h}x{w} after pre-processing, larger than '
                                     f'the static input {shape}')
                x = torch.nn.functional.pad(x, (0, shape[1] - w, 0, shape[0] - h))
            inputs.append(x.numpy().astype(np.float32))
            samples.append(data['data_samples'][0])
        return inputs, samples
