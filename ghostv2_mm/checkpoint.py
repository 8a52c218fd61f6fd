"""Checkpoints: the package's one loader (it checks the file and runs no code from it), the
unwrapping of their state dicts, the check that they fit a model, and the conversion of
official/timm GhostNetV2 checkpoints. A bad file gives a ``CheckpointError`` that names it.
See docs/faults.md (damaged and untrusted checkpoints) for the manual.
"""
import functools
import os
import os.path as osp
import pickle
import re
import warnings
import zipfile
from collections import OrderedDict

from .errors import CheckpointError
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
BOTTLENECK_KEY = re.compile(r'blocks\.(\d+)\.(\d+)\.ghost1\.primary_conv\.0\.weight$')
# thop's profiling counters, saved with the official checkpoints (Efficient-AI-Backbones #164).
PROFILER_KEYS = ('total_ops', 'total_params')
TRUST_ENV = 'GHOSTV2_MM_TRUST_CHECKPOINTS'
# What an mmengine training checkpoint holds besides what ``weights_only`` allows (tensors,
# storages, OrderedDict): each builds data and calls nothing the file chooses.
TRAINING_GLOBALS = (
    'numpy.core.multiarray._reconstruct',  # an empty ndarray (the subtype must be allowed too)
    'numpy.ndarray',  # ndarray's own __setstate__ fills it (message_hub's histories)
    'numpy.dtype',  # a dtype from its name
    'numpy.core.multiarray.scalar',  # numpy scalars (message_hub's runtime_info, e.g. eta)
    '_codecs.encode',  # bytes of arrays pickled with protocol 2: str -> bytes
    'mmengine.logging.history_buffer.HistoryBuffer',  # message_hub's logged scalars: arrays
    'builtins.getattr',  # HistoryBuffer pickles its statistics methods as
    '__builtin__.getattr',  # getattr(HistoryBuffer, 'mean'): only those pairs are allowed
)


class _Refused(pickle.UnpicklingError):
    """A global the loader does not allow, named by ``args[0]``."""


@functools.lru_cache(maxsize=None)
def _allowed_globals():
    import importlib

    import torch._weights_only_unpickler as weights_only
    from mmengine.logging import HistoryBuffer

    def history_getattr(obj, name):
        statistics = {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}
        if obj is not HistoryBuffer or name not in statistics:
            raise _Refused(f'getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r})')
        return getattr(obj, name)

    allowed = dict(weights_only._get_allowed_globals())
    for key in TRAINING_GLOBALS:
        module, name = key.rsplit('.', 1)
        allowed[key] = history_getattr if name == 'getattr' else \
            getattr(importlib.import_module(module), name)
    return allowed


class _TrainingPickle:
    """The ``pickle_module`` for ``torch.load`` (its legacy format calls ``load`` too): allows
    the globals of ``weights_only`` and :data:`TRAINING_GLOBALS` only."""
    __name__ = 'pickle'

    class Unpickler(pickle.Unpickler):

        def find_class(self, module, name):
            key = f'{module}.{name}'
            allowed = _allowed_globals()
            if key not in allowed:
                raise _Refused(key)
            return allowed[key]

    @staticmethod
    def load(file, **kwargs):
        return _TrainingPickle.Unpickler(file, **kwargs).load()


def checkpoint_damage(path):
    """What makes ``path`` unreadable as a PyTorch checkpoint (e.g. ``'is empty (0 bytes): ...'``),
    or None. Zip archives get every record's CRC checked (``torch.load`` reads damaged tensor
    bytes without complaint); the pre-1.6 format is only checked to start like a pickle."""
    if not osp.exists(path):
        return 'does not exist'
    if osp.isdir(path):
        return 'is a folder, not a checkpoint file'
    size = osp.getsize(path)
    if size == 0:
        return 'is empty (0 bytes): its write was interrupted'
    if str(path).endswith('.safetensors'):  # its loader checks the header and the sizes
        return None
    with open(path, 'rb') as f:
        head = f.read(4)
    if head.startswith(b'PK'):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, EOFError, OSError):
            return f'is truncated or damaged (no complete zip archive in its {size} bytes)'
        return None if bad is None else f'is damaged (record {bad} fails its CRC check)'
    if head[:1] == b'\x80':  # a pickle: PyTorch's legacy format, read by torch.load
        return None
    if head.lstrip()[:1] in (b'<', b'{', b'#'):
        return f'is not a PyTorch checkpoint but text starting with {head!r} (a failed download?)'
    return f'is not a PyTorch checkpoint (it starts with {head!r})'


def load_checkpoint_file(path, map_location='cpu'):
    """The checkpoint in ``path``, checked (:func:`checkpoint_damage`) and loaded without running
    code from it unless ``GHOSTV2_MM_TRUST_CHECKPOINTS`` is set; URLs go to mmengine's loaders.

    Raises:
        CheckpointError: the file is missing, damaged, not a checkpoint, or needs a global that
            checkpoints of weights and training state do not.
    """
    import torch
    if '://' in str(path):
        from mmengine.runner.checkpoint import CheckpointLoader
        return CheckpointLoader.load_checkpoint(path, map_location=map_location)
    damage = checkpoint_damage(path)
    if damage:
        raise CheckpointError(f'checkpoint {path} {damage}')
    try:
        if str(path).endswith('.safetensors'):
            from safetensors.torch import load_file
            return load_file(path, device=str(map_location or 'cpu'))
        if os.environ.get(TRUST_ENV, '').lower() in ('1', 'true', 'yes'):
            return torch.load(path, map_location=map_location)
        with warnings.catch_warnings():  # about torch's storage classes, which it unpickles
            warnings.filterwarnings('ignore', 'TypedStorage is deprecated')
            try:
                return torch.load(path, map_location=map_location, weights_only=True)
            except pickle.UnpicklingError:  # more than weights: a training checkpoint?
                return torch.load(path, map_location=map_location, pickle_module=_TrainingPickle)
    except _Refused as e:
        raise CheckpointError(
            f'checkpoint {path} refused: loading it would call {e.args[0]}, which checkpoints of '
            f'weights and training state do not need (if you trust the file: {TRUST_ENV}=1)'
        ) from None
    except Exception as e:  # a legacy-format file damaged past its first bytes
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f'checkpoint {path} cannot be read: {reason}') from e


def register_mmengine_loaders():
    """Make :func:`load_checkpoint_file` mmengine's loader of local files and http(s) URLs
    (downloads cached as mmengine does), for ``init_cfg``, ``load_from``, ``resume``, mmdeploy."""
    from mmengine.runner.checkpoint import CheckpointLoader

    def load_from_local(filename, map_location):
        return load_checkpoint_file(osp.expanduser(filename), map_location)

    def load_from_http(url, map_location):
        from mmengine.dist import barrier, get_dist_info
        from torch.hub import download_url_to_file, get_dir
        path = osp.join(get_dir(), 'checkpoints', osp.basename(url.split('?')[0]))
        rank, world_size = get_dist_info()
        if rank == 0 and not osp.exists(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
            download_url_to_file(url, path)
        if world_size > 1:
            barrier()
        return load_checkpoint_file(path, map_location)

    CheckpointLoader.register_scheme('', load_from_local, force=True)
    CheckpointLoader.register_scheme(('http://', 'https://'), load_from_http, force=True)


def state_dict_of(checkpoint, path=None):
    """The tensors of a loaded checkpoint (under ``state_dict``/``model``/``state_dict_ema`` or
    bare) without a ``module.`` prefix; a ``CheckpointError`` naming ``path`` if it has none."""
    import torch
    if isinstance(checkpoint, dict):
        checkpoint = next((checkpoint[k] for k in ('state_dict', 'model', 'state_dict_ema')
                           if isinstance(checkpoint.get(k), dict)), checkpoint)
    tensors = OrderedDict((k[7:] if k.startswith('module.') else k, v)
                          for k, v in checkpoint.items() if isinstance(v, torch.Tensor)) \
        if isinstance(checkpoint, dict) else {}
    if not tensors:
        raise CheckpointError(f'{f"checkpoint {path}" if path else "the checkpoint"} holds no '
                              f'model weights (a {type(checkpoint).__name__} without tensors)')
    if hasattr(checkpoint, '_metadata'):  # module versions, read by load_state_dict
        tensors._metadata = checkpoint._metadata
    return tensors


def load_weights(model, path, strict=True):
    """Load the weights of checkpoint ``path`` into ``model`` (mmengine's ``load_state_dict``:
    a strict load names the missing and unexpected keys)."""
    from mmengine.runner.checkpoint import load_state_dict
    load_state_dict(model, state_dict_of(load_checkpoint_file(path), path), strict=strict)


def check_fits(model, state_dict, path, prefix='', complete=True, same_shapes=True):
    """Raise ``CheckpointError`` (naming ``path``) unless ``state_dict`` (its keys under
    ``prefix``) holds weights of ``model`` with its shapes.

    ``complete=False`` accepts a checkpoint that lacks some weights (a pretrained backbone);
    ``same_shapes=False`` accepts other shapes as long as at least half of the model's weights
    fit (fine-tuning with another number of classes, mmengine's non-strict ``load_from``).
    """
    model = getattr(model, 'module', model)
    own = model.state_dict()
    state = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    name = type(model).__name__
    if hasattr(model, 'widen_factor'):
        name += f'(widen_factor={model.widen_factor})'
    common = [k for k in own if k in state]
    if not common:
        where = f' under prefix {prefix!r}' if prefix else ''
        raise CheckpointError(f'checkpoint {path} has none of the {len(own)} weights of {name}'
                              f'{where}: it is a checkpoint of another model')
    bad = [k for k in common if state[k].shape != own[k].shape]
    if same_shapes and bad:
        k = bad[0]
        raise CheckpointError(
            f'checkpoint {path} does not fit {name}: {len(bad)} of its tensors have other shapes, '
            f'e.g. {k} is {tuple(state[k].shape)} there and {tuple(own[k].shape)} in the model '
            '(another width or number of classes?)')
    missing = [k for k in own if k not in state]
    if complete and missing:
        raise CheckpointError(f'checkpoint {path} lacks {len(missing)} of the {len(own)} weights '
                              f'of {name}, e.g. {missing[0]}: it is a checkpoint of another model')
    fitting = len(common) - len(bad)
    if not same_shapes and fitting < len(own) / 2:
        raise CheckpointError(f'checkpoint {path} fits only {fitting} of the {len(own)} weights '
                              f'of {name}: it is a checkpoint of another model')


def check_pretrained(model, checkpoint, prefix=None):
    """Raise ``CheckpointError`` if an ``init_cfg`` checkpoint is missing (saying how to make it),
    unreadable, or does not fit ``model`` (mmengine only warns about the last)."""
    if '://' not in str(checkpoint) and not osp.exists(checkpoint):
        official = {1.0: '10', 1.3: '13', 1.6: '16'}.get(getattr(model, 'widen_factor', None)) \
            if 'in1k' in osp.basename(checkpoint) else None
        source = f'checkpoints/ck_ghostnetv2_{official}.pth.tar'
        make = (f'wget -P checkpoints {OFFICIAL_URL}/{osp.basename(source)} && python '
                'tools/model_converters/ghostnetv2_to_mmpretrain.py '
                f'{source} {checkpoint}, ' if official else '')
        raise CheckpointError(
            f'init_cfg checkpoint {checkpoint} does not exist: make it ({make}or train '
            'configs/mmpretrain/), or point elsewhere with '
            'model.backbone.init_cfg.checkpoint=PATH (model.backbone.init_cfg=None: random '
            'weights)')
    state = load_checkpoint_file(checkpoint)
    if prefix and not prefix.endswith('.'):
        prefix += '.'
    try:
        check_fits(model, state_dict_of(state, checkpoint), checkpoint, prefix or '',
                   complete=False)
    except CheckpointError as e:
        raise CheckpointError(f'init_cfg {e}') from None


def infer_arch(state_dict):
    """``widen_factor`` and ``dfc_layers`` (GhostNetV2 keyword arguments) of an official/timm
    GhostNetV2 (or GhostNetV1) state dict."""
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
    """An official or timm GhostNetV2 checkpoint (loaded) as an mmpretrain checkpoint:
    ``state_dict`` and ``meta``; ``ValueError`` if it is not of ``widen_factor`` (None: any)."""
    state_dict = state_dict_of(checkpoint)
    arch = infer_arch(state_dict)
    if widen_factor is not None and arch['widen_factor'] != widen_factor:
        raise ValueError(f'widen_factor mismatch: the checkpoint is GhostNetV2 '
                         f'{arch["widen_factor"]}x, but {widen_factor}x was requested')
    converted = OrderedDict()
    for key, value in state_dict.items():
        if key.rsplit('.', 1)[-1] in PROFILER_KEYS:
            continue
        if key in HEAD_KEYS:
            converted[HEAD_KEYS[key]] = value.flatten(1) if key == 'conv_head.weight' else value
        elif key.startswith(('conv_stem.', 'bn1.', 'blocks.')):
            converted[f'backbone.{key}'] = value
        else:
            raise ValueError(f'not an official/timm GhostNetV2 checkpoint: unexpected key {key!r}')
    return dict(state_dict=converted, meta=dict(arch=arch, converted_from='official/timm'))
