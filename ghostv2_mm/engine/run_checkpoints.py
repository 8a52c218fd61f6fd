"""The checkpoints of a run: which are intact, which one ``--resume`` takes, and whether the file
a run loads is an intact checkpoint of its model."""
import os
import os.path as osp
import re

from ..checkpoint import check_fits, checkpoint_damage, load_checkpoint_file, state_dict_of
from ..errors import CheckpointError

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
        if match and checkpoint_damage(path) is None:  # STEP_NAME excludes *.partial
            found.append((int(match.group(1)), osp.getmtime(path), path))
    return [path for *_, path in sorted(found, reverse=True)]


def resume_hint(work_dir, exclude=None):
    """``'; the newest intact checkpoint in WORK_DIR is P: resume with --resume P'`` (or that
    there is none), for error messages."""
    found = [p for p in intact_checkpoints(work_dir)
             if exclude is None or osp.abspath(p) != osp.abspath(exclude)]
    if not found:
        return f'; {work_dir} holds no intact checkpoint to resume from'
    return (f'; the newest intact checkpoint in {work_dir} is {found[0]}: resume with '
            f'--resume {found[0]}')


def resolve_resume(work_dir):
    """The file ``last_checkpoint`` names, which ``--resume`` (no path) resumes from, or None
    without one (a fresh start, as in mmengine); a ``CheckpointError`` if it names no intact file.
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
    """Raise ``CheckpointError`` unless ``path`` is an intact checkpoint of ``model``: with all its
    weights, or most of them for ``exact=False`` (fine-tuning, see
    :func:`~ghostv2_mm.checkpoint.check_fits`); to ``resume``, all of them and the training state
    mmengine restores, and the message names the newest intact checkpoint in ``work_dir``."""
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
        hint = resume_hint(work_dir, exclude=path) if resume and work_dir else ''
        raise CheckpointError(f'{e}{hint}') from None
