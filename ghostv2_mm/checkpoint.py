"""Checkpoints: the one place the package reads them, the one unwrapping of their state dicts, the
one check that they fit a model, and the conversion of official/timm GhostNetV2 checkpoints.

A damaged, foreign or wrong-model file gives one line that names the file and what is wrong with
it (``CheckpointError``), instead of an ``UnpicklingError`` or ``PytorchStreamReader failed
reading zip archive`` deep in a traceback. PyTorch writes checkpoints as zip archives with a CRC
per record; ``torch.load`` reads a file whose tensor bytes were damaged without complaint, so
:func:`checkpoint_damage` checks the CRCs.

Checkpoints are pickles, and unpickling can call any function the file names. No file is loaded
so: a state dict loads with ``torch.load(weights_only=True)``, an mmengine training checkpoint
through an unpickler that allows exactly the globals such checkpoints hold
(:data:`TRAINING_GLOBALS`); anything else is refused before it runs, naming the first global it
needs. ``GHOSTV2_MM_TRUST_CHECKPOINTS=1`` loads a file the user trusts with plain ``torch.load``.
``.safetensors`` files hold tensors only. Importing the package makes mmengine's loader of local
files and URLs (``init_cfg`` ``Pretrained``, ``load_from``, ``resume``) this one.

Official checkpoints have GhostNetV2's backbone keys (it keeps the official module names), which
only gain the ``backbone.`` prefix; the official head (1x1 ``conv_head`` with bias,
``classifier``) becomes mmpretrain's ``StackedLinearClsHead`` (``head.layers.0.fc``,
``head.layers.1.fc``).
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
BOTTLENECK_KEY = re.compile(
    r'blocks\.(\d+)\.(\d+)\.ghost1\.primary_conv\.0\.weight$')
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


class _TrainingUnpickler(pickle.Unpickler):
    """An unpickler of the globals of ``weights_only`` and :data:`TRAINING_GLOBALS` only."""

    def find_class(self, module, name):
        key = f'{module}.{name}'
        allowed = _allowed_globals()
        if key not in allowed:
            raise _Refused(key)
        return allowed[key]


class _Refused(pickle.UnpicklingError):

    def __init__(self, name):
        super().__init__(name)
        self.name = name


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
    """The ``pickle_module`` for ``torch.load`` (its legacy format calls ``load`` too)."""
    Unpickler = _TrainingUnpickler
    __name__ = 'pickle'

    @staticmethod
    def load(file, **kwargs):
        return _TrainingUnpickler(file, **kwargs).load()


def checkpoint_damage(path):
    """What makes ``path`` unreadable as a PyTorch checkpoint, or None when it reads as one.

    Checks existence, emptiness, the zip structure (a truncated file has no central directory)
    and every record's CRC; files in the pre-1.6 (non-zip) format are only checked to start
    like a pickle.

    Args:
        path (str): The file.

    Returns:
        str | None: e.g. ``'is truncated (no zip central directory; 1234 bytes)'``.
    """
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


def trusted():
    """Whether ``GHOSTV2_MM_TRUST_CHECKPOINTS`` asks for plain ``torch.load``."""
    return os.environ.get(TRUST_ENV, '').lower() in ('1', 'true', 'yes')


def load_checkpoint_file(path, map_location='cpu'):
    """The checkpoint in ``path``, checked first (:func:`checkpoint_damage`), loaded without
    running code from it (see the module's docstring); URLs and ``open-mmlab://`` names go to
    mmengine's loaders.

    Raises:
        CheckpointError: the file is missing, damaged, not a checkpoint (text), or needs a
            global that checkpoints of weights and training state do not.
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
        if trusted():
            return torch.load(path, map_location=map_location)
        with warnings.catch_warnings():  # about torch's storage classes, which it unpickles
            warnings.filterwarnings('ignore', 'TypedStorage is deprecated')
            try:
                return torch.load(path, map_location=map_location, weights_only=True)
            except pickle.UnpicklingError:  # more than weights: a training checkpoint?
                return torch.load(path, map_location=map_location, pickle_module=_TrainingPickle)
    except _Refused as e:
        raise CheckpointError(
            f'checkpoint {path} refused: loading it would call {e.name}, which checkpoints of '
            f'weights and training state do not need (if you trust the file: {TRUST_ENV}=1)'
        ) from None
    except Exception as e:  # a legacy-format file damaged past its first bytes
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f'checkpoint {path} cannot be read: {reason}') from e


def register_mmengine_loaders():
    """Make :func:`load_checkpoint_file` mmengine's loader of local files and http(s) URLs (the
    downloaded file, cached as mmengine does), so that ``init_cfg`` ``Pretrained``,
    ``load_from``, ``resume`` and mmdeploy's model loading run no code from a file."""
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
    bare), without a ``module.`` (DataParallel) prefix.

    Args:
        checkpoint (object): What :func:`load_checkpoint_file` returned.
        path (str, optional): The file, for the message.

    Raises:
        CheckpointError: it holds no tensors, i.e. it is not a model checkpoint.
    """
    import torch
    if isinstance(checkpoint, dict):
        for key in ('state_dict', 'model', 'state_dict_ema'):
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
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
    """Raise ``CheckpointError`` unless ``state_dict`` (keys after ``prefix``) holds weights of
    ``model`` with its shapes.

    Args:
        model (nn.Module): The model the weights are for (a wrapper is unwrapped).
        state_dict (dict): The checkpoint's tensors.
        path (str): The file, for the message.
        prefix (str): Only keys starting with it are compared, without it. Defaults to ''.
        complete (bool): Every weight of the model must be there (testing, resuming); False
            accepts a checkpoint that lacks some (a pretrained backbone, fine-tuning). Defaults
            to True.
        same_shapes (bool): Every weight there must have the model's shape. False accepts other
            shapes as long as at least half of the model's weights fit (fine-tuning with another
            number of classes, mmengine's non-strict ``load_from``). Defaults to True.
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
    """Raise ``CheckpointError`` naming the file if an ``init_cfg`` checkpoint is missing (saying
    how to make it), damaged or not a checkpoint, if its tensors have other shapes than
    ``model``'s (e.g. a width mismatch) or if it holds none of them; mmengine only warns in the
    last two cases."""
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
