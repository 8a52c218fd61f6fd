"""Checkpoint files checked before they are used: a damaged, foreign or wrong-model file gives one
line that names the file and what is wrong with it (``CheckpointError``), instead of an
``UnpicklingError`` or ``PytorchStreamReader failed reading zip archive`` deep in a traceback.

PyTorch writes checkpoints as zip archives with a CRC per record; ``torch.load`` reads a file
whose tensor bytes were damaged without complaint, so :func:`checkpoint_damage` checks the CRCs.
"""
import os
import os.path as osp
import re
import zipfile

from .atomic import PARTIAL_SUFFIX

# Files mmengine's CheckpointHook writes by default (``filename_tmpl`` epoch_{}.pth / iter_{}.pth).
STEP_NAME = re.compile(r'(?:epoch|iter)_(\d+)\.pth$')


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message is one line naming the file."""


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
    """``torch.load`` of a checked file (safetensors or text raise ``CheckpointError`` too).

    Raises:
        CheckpointError: the file is missing, damaged or not a PyTorch checkpoint.
    """
    import torch
    damage = checkpoint_damage(path)
    if damage:
        raise CheckpointError(f'checkpoint {path} {damage}')
    try:
        return torch.load(path, map_location=map_location)
    except Exception as e:  # a legacy-format file damaged past its first bytes
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f'checkpoint {path} cannot be read: {reason}') from e


def state_dict_of(checkpoint, path):
    """The tensor dict of a loaded checkpoint (under ``state_dict``/``model`` or bare).

    Raises:
        CheckpointError: it holds no tensors, i.e. it is not a model checkpoint.
    """
    import torch
    if isinstance(checkpoint, dict):
        for key in ('state_dict', 'model', 'state_dict_ema'):
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    tensors = {k: v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)} \
        if isinstance(checkpoint, dict) else {}
    if not tensors:
        raise CheckpointError(f'checkpoint {path} holds no model weights (a '
                              f'{type(checkpoint).__name__} without tensors)')
    return tensors


def check_fits(model, state_dict, path, prefix='', exact=True):
    """Raise ``CheckpointError`` unless ``state_dict`` (keys after ``prefix``) holds the weights
    of ``model`` with its shapes.

    Args:
        model (nn.Module): The model the weights are for (a wrapper is unwrapped).
        state_dict (dict): The checkpoint's tensors.
        path (str): The file, for the message.
        prefix (str): Only keys starting with it are compared, without it. Defaults to ''.
        exact (bool): Every weight of the model must be there with its shape (testing,
            resuming). False accepts a checkpoint that fits most of the model (fine-tuning with
            another number of classes, mmengine's non-strict ``load_from``). Defaults to True.
    """
    model = getattr(model, 'module', model)
    own = model.state_dict()
    state = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    name = type(model).__name__
    common = [k for k in own if k in state]
    if not common:
        where = f' under prefix {prefix!r}' if prefix else ''
        raise CheckpointError(f'checkpoint {path} has none of the {len(own)} weights of {name}'
                              f'{where}: it is a checkpoint of another model')
    bad = [k for k in common if state[k].shape != own[k].shape]
    missing = [k for k in own if k not in state]
    if exact and bad:
        k = bad[0]
        raise CheckpointError(
            f'checkpoint {path} does not fit {name}: {len(bad)} of its tensors have other shapes, '
            f'e.g. {k} is {tuple(state[k].shape)} there and {tuple(own[k].shape)} in the model '
            '(another width or number of classes?)')
    if exact and missing:
        raise CheckpointError(f'checkpoint {path} lacks {len(missing)} of the {len(own)} weights '
                              f'of {name}, e.g. {missing[0]}: it is a checkpoint of another model')
    fitting = len(common) - len(bad)
    if fitting < len(own) / 2:
        raise CheckpointError(f'checkpoint {path} fits only {fitting} of the {len(own)} weights '
                              f'of {name}: it is a checkpoint of another model')


def intact_checkpoints(work_dir):
    """The intact ``epoch_N.pth`` / ``iter_N.pth`` files in ``work_dir``, newest (highest N,
    then latest modified) first."""
    if not osp.isdir(work_dir):
        return []
    found = []
    for name in os.listdir(work_dir):
        match = STEP_NAME.match(name)
        path = osp.join(work_dir, name)
        if match and not name.endswith(PARTIAL_SUFFIX) and checkpoint_damage(path) is None:
            found.append((int(match.group(1)), osp.getmtime(path), path))
    return [path for *_, path in sorted(found, reverse=True)]


def resume_hint(work_dir, exclude=None):
    """``'; the newest intact checkpoint in WORK_DIR is P: resume with --resume P'`` (or that
    there is none), for error messages about a checkpoint to resume from."""
    found = [p for p in intact_checkpoints(work_dir)
             if exclude is None or osp.abspath(p) != osp.abspath(exclude)]
    if not found:
        return f'; {work_dir} holds no intact checkpoint to resume from'
    return (f'; the newest intact checkpoint in {work_dir} is {found[0]}: resume with '
            f'--resume {found[0]}')


def resolve_resume(work_dir):
    """The checkpoint ``--resume`` (no path) resumes from: the file ``last_checkpoint`` names, or
    None when there is no ``last_checkpoint`` (a fresh start, as mmengine does).

    Raises:
        CheckpointError: ``last_checkpoint`` is empty or names a missing or damaged file; the
            message names the newest intact checkpoint in ``work_dir``.
    """
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.exists(pointer):
        return None
    with open(pointer) as f:
        target = f.read().strip()
    if not target:
        raise CheckpointError(f'--resume: {pointer} is empty' + resume_hint(work_dir))
    damage = checkpoint_damage(target)
    if damage:
        raise CheckpointError(f'--resume: {pointer} names {target}, which {damage}' +
                              resume_hint(work_dir, exclude=target))
    return target


def check_run_checkpoint(model, path, exact=True, resume=False, work_dir=None):
    """Check, before a run uses it, that ``path`` is an intact checkpoint of ``model`` (the file of
    ``load_from``, ``tools/test.py`` or ``--resume``); to resume it must also hold the training
    state mmengine restores (meta with epoch and iteration, optimizer, message hub).

    Args:
        model (nn.Module): The Runner's model.
        path (str): The checkpoint.
        exact (bool): Every weight of the model must be there (see :func:`check_fits`); resuming
            is always exact. Defaults to True.
        resume (bool): The run resumes from it. Defaults to False.
        work_dir (str, optional): Where to look for intact checkpoints for the message.

    Raises:
        CheckpointError: naming the file and what is wrong; for ``resume``, also the newest
            intact checkpoint in ``work_dir``.
    """
    hint = resume_hint(work_dir, exclude=path) if resume and work_dir else ''
    try:
        checkpoint = load_checkpoint_file(path)
        check_fits(model, state_dict_of(checkpoint, path), path, exact=exact or resume)
        if resume:
            meta = checkpoint.get('meta') or {}
            missing = [k for k in ('epoch', 'iter') if k not in meta]
            missing += [k for k in ('optimizer', 'message_hub') if k not in checkpoint]
            if missing:
                raise CheckpointError(
                    f'checkpoint {path} cannot be resumed: it holds weights only (no '
                    f'{", ".join(missing)}); use it with load_from instead')
    except CheckpointError as e:
        raise CheckpointError(f'{e}{hint}') from None
