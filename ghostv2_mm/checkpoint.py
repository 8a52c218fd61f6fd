"""Official / timm GhostNetV2 checkpoints -> mmpretrain ``ImageClassifier`` checkpoints.

The backbone keys are identical (GhostNetV2 keeps the official module names) and only gain the
``backbone.`` prefix; the official head (1x1 ``conv_head`` with bias, ``classifier``) becomes
mmpretrain's ``StackedLinearClsHead`` (``head.layers.0.fc``, ``head.layers.1.fc``).
"""
import re
from collections import OrderedDict

from .utils import make_divisible

REQUIRED_KEYS = ('conv_stem.weight', 'blocks.9.0.conv.weight', 'conv_head.weight',
                 'classifier.weight')
HEAD_KEYS = {
    'conv_head.weight': 'head.layers.0.fc.weight',
    'conv_head.bias': 'head.layers.0.fc.bias',
    'classifier.weight': 'head.layers.1.fc.weight',
    'classifier.bias': 'head.layers.1.fc.bias',
}
KNOWN_WIDTHS = (1.0, 1.1, 1.3, 1.6)
OFFICIAL_URL = ('https://github.com/huawei-noah/Efficient-AI-Backbones/releases/download/'
                'GhostNetV2')
BOTTLENECK_KEY = re.compile(
    r'blocks\.(\d+)\.(\d+)\.ghost1\.primary_conv\.0\.weight$')


def unwrap_state_dict(checkpoint):
    """The state dict of a checkpoint with or without a ``state_dict``/``model`` wrapper, without
    a ``module.`` (DataParallel) prefix."""
    if not isinstance(checkpoint, dict):
        raise ValueError(f'expected a checkpoint dict, got {type(checkpoint).__name__}')
    for key in ('state_dict', 'model', 'state_dict_ema'):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    return OrderedDict((k[7:] if k.startswith('module.') else k, v) for k, v in checkpoint.items())


def infer_arch(state_dict):
    """Width and DFC layout of an official/timm GhostNetV2 (or GhostNetV1) state dict.

    Returns:
        dict: ``widen_factor`` and ``dfc_layers`` (GhostNetV2 keyword arguments).
    """
    missing = [k for k in REQUIRED_KEYS if k not in state_dict]
    if missing:
        raise ValueError('not an official/timm GhostNetV2 checkpoint: missing '
                         f'{", ".join(missing)}')
    stem = state_dict['conv_stem.weight'].shape[0]
    last = state_dict['blocks.9.0.conv.weight'].shape[0]
    widths = [w for w in KNOWN_WIDTHS
              if make_divisible(16 * w, 4) == stem and make_divisible(960 * w, 4) == last]
    if not widths:
        raise ValueError(f'unknown GhostNetV2 width: stem has {stem} channels and the last conv '
                         f'{last}; known widths are {KNOWN_WIDTHS}')
    # Bottlenecks in network order (blocks.<stage>.<index>), numbered as GhostNetV2's dfc_layers.
    layers = sorted({tuple(map(int, m.groups())) for m in map(BOTTLENECK_KEY.match, state_dict)
                     if m})
    dfc_layers = tuple(i for i, (stage, j) in enumerate(layers)
                       if f'blocks.{stage}.{j}.ghost1.short_conv.0.weight' in state_dict)
    return dict(widen_factor=widths[0], dfc_layers=dfc_layers)


def convert_to_mmpretrain(checkpoint, widen_factor=None):
    """Convert an official or timm GhostNetV2 checkpoint to an mmpretrain checkpoint.

    Args:
        checkpoint (dict): The loaded checkpoint (wrapped or a bare state dict).
        widen_factor (float, optional): The width the result must have; a checkpoint of another
            width raises ``ValueError``. Defaults to None (any width).

    Returns:
        dict: ``state_dict`` (mmpretrain keys) and ``meta`` (``widen_factor``, ``dfc_layers``).
    """
    state_dict = unwrap_state_dict(checkpoint)
    arch = infer_arch(state_dict)
    if widen_factor is not None and arch['widen_factor'] != widen_factor:
        raise ValueError(f'widen_factor mismatch: the checkpoint is GhostNetV2 '
                         f'{arch["widen_factor"]}x, but {widen_factor}x was requested')
    converted = OrderedDict()
    for key, value in state_dict.items():
        if key in HEAD_KEYS:
            converted[HEAD_KEYS[key]] = value.flatten(1) if key == 'conv_head.weight' else value
        elif key.startswith(('conv_stem.', 'bn1.', 'blocks.')):
            converted[f'backbone.{key}'] = value
        else:
            raise ValueError(f'not an official/timm GhostNetV2 checkpoint: unexpected key {key!r}')
    return dict(state_dict=converted, meta=dict(arch=arch, converted_from='official/timm'))


def check_pretrained(model, checkpoint, prefix=None):
    """Raise ``CheckpointError`` (a ``ValueError``) naming the file if a checkpoint is missing
    (saying how to make it), damaged or not a checkpoint, if its tensors have other shapes than
    ``model``'s (e.g. a width mismatch) or if it holds none of them; mmengine only warns in the
    last two cases."""
    import os.path as osp

    from mmengine.runner.checkpoint import CheckpointLoader

    from .engine.checkpoint_files import CheckpointError, load_checkpoint_file
    if '://' in str(checkpoint):  # URLs, open-mmlab:// names: mmengine's loaders
        loaded = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    elif not osp.exists(checkpoint):
        official = {1.0: '10', 1.3: '13', 1.6: '16'}.get(getattr(model, 'widen_factor', None)) \
            if 'in1k' in osp.basename(checkpoint) else None
        source = f'checkpoints/ck_ghostnetv2_{official}.pth.tar'
        make = (f'wget -P checkpoints {OFFICIAL_URL}/{osp.basename(source)} && python '
                'tools/model_converters/ghostnetv2_to_mmpretrain.py '
                f'{source} {checkpoint}, ' if official else '')
        raise CheckpointError(
            f'init_cfg checkpoint {checkpoint} does not exist: make it ({make}or train '
            'configs/mmpretrain/), or point elsewhere with --cfg-options '
            'model.backbone.init_cfg.checkpoint=PATH (model.backbone.init_cfg=None: random '
            'weights)')
    else:
        loaded = load_checkpoint_file(checkpoint)
    try:
        state = unwrap_state_dict(loaded)
    except ValueError as e:
        raise CheckpointError(f'init_cfg checkpoint {checkpoint} is not a model checkpoint: {e}')
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    own = model.state_dict()
    if not any(k in own for k in state):
        raise CheckpointError(f'init_cfg checkpoint {checkpoint} has no {type(model).__name__} '
                              f'weights under prefix {prefix!r}')
    bad = [f'{k}: {tuple(v.shape)} in the checkpoint, {tuple(own[k].shape)} in the model'
           for k, v in state.items() if k in own and v.shape != own[k].shape]
    if bad:
        raise CheckpointError(
            f'init_cfg checkpoint {checkpoint} does not fit {type(model).__name__}'
            f'(widen_factor={getattr(model, "widen_factor", "?")}); {len(bad)} tensors differ, '
            f'e.g. {bad[0]}. Is it a checkpoint of another width?')
