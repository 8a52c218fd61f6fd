import argparse
import os
import os.path as osp


def make_divisible(value, divisor=4):
    """``value`` rounded to the nearest multiple of ``divisor``, at least ``divisor``, plus one
    ``divisor`` when rounding lost more than 10% of ``value`` (the official code's rule)."""
    new_value = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new_value + divisor if new_value < 0.9 * value else new_value


def check_choice(name, value, choices):
    """Raise ``ValueError`` naming the argument and the allowed values unless ``value`` is one of
    ``choices``."""
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, but received {value!r}')


# Layer kinds a ``*_cfg`` argument builds, with examples for error messages (mmcv.cnn's names).
LAYER_KINDS = {
    'conv': ('Conv2d', 'Conv', 'DCNv2'),
    'norm': ('BN', 'SyncBN', 'GN', 'LN', 'IN'),
    'act': ('ReLU', 'HSwish', 'HSigmoid', 'SiLU', 'GELU'),
}


def check_keys(name, cfg, allowed):
    """Raise ``ValueError`` naming the argument ``name``, the unknown keys (with the nearest
    allowed one) and the allowed keys unless ``cfg`` is None or a dict with keys in ``allowed``."""
    import difflib
    if cfg is None:
        return
    if not isinstance(cfg, dict):
        raise ValueError(f'{name} must be a dict, but received {cfg!r}')
    allowed = tuple(allowed)
    unknown = [k for k in cfg if k not in allowed]
    if unknown:
        hints = [f'{k!r} (did you mean {close[0]!r}?)' if close else repr(k)
                 for k in unknown for close in [difflib.get_close_matches(str(k), allowed, 1)]]
        raise ValueError(f'{name} has unknown keys {", ".join(hints)}; allowed keys are '
                         f'{allowed}')


def check_layer_cfg(name, cfg, kind, allow_none=True):
    """Raise ``ValueError`` naming the argument ``name`` and what is allowed unless ``cfg`` is a
    layer config of ``kind`` (a key of ``LAYER_KINDS``) that mmcv can build: a dict whose
    ``type`` is an ``nn.Module`` registered in mmengine's ``MODELS``, or None if ``allow_none``."""
    check_choice('kind', kind, LAYER_KINDS)
    examples = ', '.join(LAYER_KINDS[kind])
    if cfg is None:
        if allow_none:
            return
        raise ValueError(f'{name} must be a dict with a {kind} layer type such as {examples}, '
                         'but received None')
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'{name} must be a dict with a "type" key (a {kind} layer such as '
                         f'{examples}), but received {cfg!r}')
    layer = cls = cfg['type']
    if isinstance(layer, str):
        import mmcv.cnn  # noqa: F401  registers mmcv's layers
        from mmengine.registry import MODELS
        cls = MODELS.get(layer)
        if cls is None:
            raise ValueError(f'{name} type {layer!r} is not a registered layer; use a {kind} layer '
                             f'such as {examples} (mmcv.cnn), or register it in mmengine MODELS')
    import torch.nn as nn
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f'{name} type must name an nn.Module ({examples}, ...), but received '
                         f'{layer!r}')
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    if kind == 'act' and issubclass(cls, norms + (nn.modules.conv._ConvNd, )):
        raise ValueError(f'{name} type {layer!r} ({cls.__name__}) is not an activation; use one '
                         f'such as {examples}')
    if kind == 'norm' and not issubclass(cls, norms):
        raise ValueError(f'{name} type {layer!r} ({cls.__name__}) is not a normalisation layer; '
                         f'use one such as {examples}')


def cache_dir():
    """The package's cache directory (``GHOSTV2_MM_CACHE``, as the set-up script resolves it)."""
    return os.environ.get('GHOSTV2_MM_CACHE', osp.join(
        os.environ.get('XDG_CACHE_HOME', osp.expanduser('~/.cache')), 'ghostv2_mm'))


def innermost_dataset(dataset_cfg):
    """The dataset that wrappers (``RepeatDataset``, ...) of ``dataset_cfg`` wrap."""
    while 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def tool_parser(doc, cfg_options_help=None):
    """The argument parser of a tool whose help is ``doc`` (its module docstring) as written,
    with mmengine's ``--cfg-options KEY=VALUE ...`` when ``cfg_options_help`` is given."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if cfg_options_help:
        from mmengine.config import DictAction
        parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=cfg_options_help)
    return parser
