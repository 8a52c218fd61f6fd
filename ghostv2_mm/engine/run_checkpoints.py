"""The checkpoints of a run: which are intact, which one ``--resume`` takes, and whether the file
a run loads (``load_from``, ``tools/test.py``, ``--resume``) is an intact checkpoint of its model.
Messages about resuming name the newest intact checkpoint of the work dir."""
import os
import os.path as osp
import re

from ..checkpoint import check_fits, checkpoint_damage, load_checkpoint_file, state_dict_of
from ..errors import CheckpointError
from .atomic import PARTIAL_SUFFIX

# Files mmengine's CheckpointHook writes by default (``filename_tmpl`` epoch_{}.pth / iter_{}.pth).
STEP_NAME = re.compile(r'(?:epoch|iter)_(\d+)\.pth$')


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
        exact (bool): Every weight of the model must be there with its shape; False accepts a
            checkpoint that fits most of the model (fine-tuning, see
            :func:`~ghostv2_mm.checkpoint.check_fits`). Resuming is always exact. Defaults to
            True.
        resume (bool): The run resumes from it. Defaults to False.
        work_dir (str, optional): Where to look for intact checkpoints for the message.

    Raises:
        CheckpointError: naming the file and what is wrong; for ``resume``, also the newest
            intact checkpoint in ``work_dir``.
    """
    hint = resume_hint(work_dir, exclude=path) if resume and work_dir else ''
    try:
        checkpoint = load_checkpoint_file(path)
        exact = exact or resume
        check_fits(model, state_dict_of(checkpoint, path), path, complete=exact,
                   same_shapes=exact)
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
