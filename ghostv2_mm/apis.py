"""Models from configs: built, loaded with a checkpoint, and written as deploy checkpoints (as
``mmpretrain.apis`` serves mmpretrain's tools)."""
import importlib
import os.path as osp

from .checkpoint import load_weights
from .errors import ConfigError


def build_model(config, cfg_options=None):
    """Build the model of an mmpretrain/mmdet/mmseg config (file or ``Config``) with
    ``cfg_options`` (dotted keys, as ``--cfg-options``) merged in, in the config's
    ``default_scope`` (set only while building). Weights are random.

    Raises:
        ConfigError: the backbone's taps do not match its neck or heads (:func:`check_taps`).
    """
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from .taps import check_taps
    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    cfg.merge_from_dict(cfg_options or {})
    scope = cfg.get('default_scope', 'mmengine')
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner does (mmpretrain configs)
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(model_cfg)
    check_taps(model)
    return model


def init_model(config, checkpoint=None, cfg_options=None, deploy=False):
    """The model of ``config`` in eval mode with the weights of ``checkpoint`` (None: random).
    A deploy checkpoint (``tools/model_converters/reparameterize_model.py``) needs ``deploy``,
    which builds the backbone's inference structure (``model.backbone.deploy=True``)."""
    options = dict(cfg_options or {})
    # Weights come from ``checkpoint``; a Pretrained init_cfg would look for its own file.
    options.setdefault('model.backbone.init_cfg', None)
    if deploy:
        options['model.backbone.deploy'] = True
    model = build_model(config, options)
    if checkpoint is not None:
        load_weights(model, checkpoint)
    return model.eval()


def reparameterize_checkpoint(config, checkpoint, out, cfg_options=None, check_shape=None):
    """Write to ``out`` the deploy checkpoint of ``checkpoint`` (the model of ``config``, its
    backbone switched to its inference structure), which loads with ``model.backbone.deploy=True``.
    With ``check_shape`` (H, W), return the largest absolute output difference between it and the
    trained model on a random input of that size, relative to the largest output magnitude."""
    import torch

    from .engine.atomic import atomic_torch_save
    model = init_model(config, checkpoint, cfg_options)
    if not hasattr(model.backbone, 'switch_to_deploy'):
        raise ConfigError(f'the backbone of {config} ({type(model.backbone).__name__}) has no '
                          'inference structure (switch_to_deploy)')
    model.backbone.switch_to_deploy()
    atomic_torch_save(dict(state_dict=model.state_dict(),
                           meta=dict(deploy=True, source=osp.abspath(checkpoint))), out)
    if not check_shape:
        return None
    reference = init_model(config, checkpoint, cfg_options)
    deployed = init_model(config, out, cfg_options, deploy=True)
    x = torch.randn(1, 3, *check_shape)
    with torch.no_grad():
        expected, actual = (_flatten(m(x, mode='tensor')) for m in (reference, deployed))
    scale = max(float(e.abs().max()) for e in expected)
    diff = max(float((a - e).abs().max()) for a, e in zip(actual, expected))
    return diff / max(scale, 1.)


def _flatten(outputs):
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (tuple, list)):
        return [t for o in outputs for t in _flatten(o)]
    return [outputs]
