"""Fault a short training, resume it with ``--resume``, and check that it ends with the same
weights as an uninterrupted run.

    python tools/misc/fault_test.py CONFIG [--mode kill|disk-full|dead-rank] [--kills N]
        [--work-dir DIR] [--seed S] [--slow-write SECONDS] [--exit-within S] [--json OUT]
        [--cfg-options k=v ...]

``--mode kill`` (default) SIGKILLs the run ``--kills`` times (below). ``--mode disk-full`` stops the
run after its first checkpoint and resumes it under a file size limit of half a checkpoint
(``RLIMIT_FSIZE``): the run must stop with one line naming the file and the bytes it needed,
leaving the checkpoints and ``last_checkpoint`` as they were, and a resume without the limit must
end bit-identical. ``--mode dead-rank`` runs ``tools/dist_train.sh CONFIG 2`` (gloo on CPUs),
SIGKILLs rank 1 after the first checkpoint, requires the other process and the launcher to exit
within ``--exit-within`` seconds, and resumes with 2 processes to weights bit-identical to an
uninterrupted 2-process run.

The kills cycle through three kinds:
  time        a random moment of the run (start-up, training, validation, saving)
  save        inside a checkpoint write (``GHOSTV2_MM_SLOW_WRITE`` makes every write pause half-way,
              so the kill lands in it); which of the remaining saves is hit is random
  after-save  0-0.5 s after a checkpoint file appeared (``last_checkpoint`` update, removal of
              the oldest checkpoint)
After every kill the work dir is checked: every ``*.pth`` under its final name is intact and
``last_checkpoint`` names an intact file. A run that finishes before its kill ends the sequence;
the remaining kills go to a new sequence. Every sequence must end with weights bit-identical to
the reference run. Exits non-zero on any damaged file or difference.
"""
import argparse
import glob
import json
import os
import os.path as osp
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import time

from ghostv2_mm.checkpoint import checkpoint_damage, load_checkpoint_file, state_dict_of
from ghostv2_mm.engine.atomic import PARTIAL_SUFFIX, SLOW_WRITE_ENV

KINDS = ('time', 'save', 'after-save')
TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(TOOLS, 'train.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--mode', choices=('kill', 'disk-full', 'dead-rank'), default='kill')
    parser.add_argument('--kills', type=int, default=5, help='number of SIGKILLs in total')
    parser.add_argument('--exit-within', type=float, default=60,
                        help='dead-rank: seconds the surviving processes may take to exit')
    parser.add_argument('--work-dir', default=None,
                        help='folder for the runs (default: work_dirs/fault_test/<config name>)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the kill moments')
    parser.add_argument('--slow-write', type=float, default=0.5,
                        help='seconds every checkpoint write pauses half-way (0: no pause)')
    parser.add_argument('--json', help='write the figures to this file')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='config overrides passed to tools/train.py')
    return parser.parse_args(argv)


class Training:
    """One tools/train.py process in its own process group (its dataloader workers die with it)."""

    def __init__(self, args, work_dir, resume, log, slow_write=0.0, max_file_size=None,
                 processes=1):
        cmd = [sys.executable, TRAIN] if processes == 1 else [
            'bash', osp.join(TOOLS, 'dist_train.sh')]
        cmd += [args.config] + ([] if processes == 1 else [str(processes)])
        cmd += ['--work-dir', work_dir] + (['--resume'] if resume else [])
        cmd += ['--cfg-options', *args.cfg_options] if args.cfg_options else []
        env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()),
                   **{SLOW_WRITE_ENV: str(slow_write)})
        limit = None if max_file_size is None else (
            lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_size, ) * 2))
        self.log_file = log
        self.log = open(log, 'w')
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True, preexec_fn=limit)

    def running(self):
        return self.proc.poll() is None

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def wait(self):
        code = self.proc.wait()
        self.log.close()
        return code


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def rank_pid(run, rank):
    """The pid of the training process of ``rank`` that ``run``'s launcher started."""
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            if os.getsid(int(pid)) != run.proc.pid:
                continue
            with open(f'/proc/{pid}/environ', 'rb') as f:
                env = f.read().split(b'\0')
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read()
        except OSError:  # ended meanwhile
            continue
        if f'RANK={rank}'.encode() in env and b'train.py' in cmdline:
            return int(pid)
    return None


def wait_for_checkpoint(run, work_dir):
    """Wait until ``run`` wrote its first checkpoint (``last_checkpoint`` exists)."""
    while run.running() and not osp.exists(osp.join(work_dir, 'last_checkpoint')):
        time.sleep(0.05)
    if not run.running():
        sys.exit(f'the run ended before its first checkpoint: see {run.log_file}')


def snapshot(work_dir):
    """Content of the checkpoint files and ``last_checkpoint`` of ``work_dir``."""
    files = glob.glob(osp.join(work_dir, '*.pth*')) + [osp.join(work_dir, 'last_checkpoint')]
    result = {}
    for path in files:
        with open(path, 'rb') as f:
            result[osp.basename(path)] = hash(f.read())
    return result


def last_line(path):
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[-1] if lines else ''


def disk_full(args, root, figures):
    """The run of ``--mode disk-full`` up to its resume without the limit; returns its dir."""
    work_dir = osp.join(root, 'disk_full')
    first = Training(args, work_dir, False, work_dir + '_1.log')
    wait_for_checkpoint(first, work_dir)
    first.kill()
    before = snapshot(work_dir)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        size = osp.getsize(f.read().strip())
    limited = Training(args, work_dir, True, work_dir + '_2.log', max_file_size=size // 2)
    code = limited.wait()
    message = last_line(work_dir + '_2.log')
    unchanged = snapshot(work_dir) == before
    figures.update(exit_code=code, message=message, limit_bytes=size // 2,
                   files_unchanged=unchanged)
    print(f'under a {size // 2}-byte file size limit: exit code {code}, "{message}"; '
          f'checkpoints and last_checkpoint {"unchanged" if unchanged else "CHANGED"}')
    if code == 0 or not re.search(r'cannot write .*epoch_\d+\.pth.* needs \d+ bytes', message):
        sys.exit(f'FAILED: the run under the limit did not stop with the message (see '
                 f'{work_dir}_2.log)')
    if not unchanged:
        sys.exit('FAILED: the failed write changed the checkpoints or last_checkpoint')
    return work_dir


def dead_rank(args, root, figures):
    """The run of ``--mode dead-rank`` up to its killed rank; returns its dir."""
    work_dir = osp.join(root, 'dead_rank')
    run = Training(args, work_dir, False, work_dir + '_1.log', processes=2)
    wait_for_checkpoint(run, work_dir)
    pid = rank_pid(run, 1)
    if pid is None:
        sys.exit(f'no process of rank 1 found: see {run.log_file}')
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    while run.running() and time.monotonic() - killed < args.exit_within:
        time.sleep(0.1)
    seconds = time.monotonic() - killed
    exited = not run.running()
    if not exited:
        run.kill()
    else:
        run.wait()
    figures.update(exit_s=round(seconds, 1), exited=exited)
    print(f'rank 1 killed: the launcher and rank 0 {"exited" if exited else "DID NOT exit"} '
          f'after {seconds:.1f} s', flush=True)
    if not exited:
        sys.exit(f'FAILED: the run still ran {args.exit_within:.0f} s after rank 1 died')
    return work_dir


def step_of(path):
    match = re.search(r'_(\d+)\.pth$', path or '')
    return int(match.group(1)) if match else 0


def last_step(work_dir):
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.exists(pointer):
        return 0
    with open(pointer) as f:
        return step_of(f.read().strip())


def check_work_dir(work_dir):
    """Damaged files under final names: ``*.pth`` and the target of ``last_checkpoint``."""
    problems = [f'{p} {d}' for p in glob.glob(osp.join(work_dir, '*.pth'))
                if (d := checkpoint_damage(p))]
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.exists(pointer):
        with open(pointer) as f:
            target = f.read().strip()
        damage = checkpoint_damage(target) if target else 'is empty'
        if damage:
            problems.append(f'last_checkpoint -> {target!r} {damage}')
    return problems


def checkpoint_files(work_dir):
    return {p: osp.getmtime(p) for p in glob.glob(osp.join(work_dir, '*.pth'))}


def wait_and_kill(run, kind, rng, budget, work_dir, saves_left):
    """Kill ``run`` at a moment of ``kind``; returns what happened ('killed' or 'finished')."""
    poll = 0.02
    if kind == 'time':
        deadline = run.start + rng.uniform(0.05, 0.7) * budget
        while run.running() and time.monotonic() < deadline:
            time.sleep(poll)
    elif kind == 'save':
        target, seen, inside = rng.randint(1, max(1, saves_left)), 0, False
        while run.running():
            writing = bool(glob.glob(osp.join(work_dir, '*.pth' + PARTIAL_SUFFIX)))
            if writing and not inside:
                seen += 1
                if seen == target:
                    time.sleep(rng.uniform(0, 0.8) * poll * 5)
                    break
            inside = writing
            time.sleep(poll)
    else:
        before, target = checkpoint_files(work_dir), rng.randint(1, max(1, saves_left))
        seen = 0
        while run.running():
            now = checkpoint_files(work_dir)
            if any(before.get(p) != t for p, t in now.items()):
                seen, before = seen + 1, now
                if seen == target:
                    time.sleep(rng.uniform(0, 0.5))
                    break
            time.sleep(poll)
    if not run.running():
        return 'finished' if run.wait() == 0 else 'failed'
    run.kill()
    return 'killed'


def final_state(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    return path, state_dict_of(load_checkpoint_file(path), path)


def compare(reference, other):
    import torch
    if reference.keys() != other.keys():
        return 0, len(reference)
    same = sum(torch.equal(reference[k], other[k]) for k in reference)
    return same, len(reference)


def total_steps(args):
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(args.config)
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    if args.cfg_options:
        cfg.merge_from_dict(parser.parse_args(['--o', *args.cfg_options]).o)
    train_cfg = cfg.train_cfg
    total = train_cfg.get('max_epochs') or train_cfg.get('max_iters')
    interval = cfg.default_hooks.checkpoint.get('interval', 1)
    return total, total // interval


def main(argv=None):
    args = parse_args(argv)
    name = osp.splitext(osp.basename(args.config))[0]
    root = osp.abspath(args.work_dir or osp.join('work_dirs', 'fault_test', name))
    os.makedirs(root, exist_ok=True)
    rng = random.Random(args.seed)
    total, saves = total_steps(args)

    processes = 2 if args.mode == 'dead-rank' else 1
    ref_dir = osp.join(root, 'reference')
    print(f'reference run ({processes} process(es)): {ref_dir}', flush=True)
    ref = Training(args, ref_dir, False, osp.join(root, 'reference.log'), processes=processes)
    if ref.wait() != 0:
        sys.exit(f'the uninterrupted run failed: see {osp.join(root, "reference.log")}')
    ref_time = time.monotonic() - ref.start
    ref_path, ref_state = final_state(ref_dir)
    if args.mode != 'kill':
        figures = dict(config=args.config, mode=args.mode, reference_s=round(ref_time, 1))
        work_dir = (disk_full if args.mode == 'disk-full' else dead_rank)(args, root, figures)
        final = Training(args, work_dir, True, work_dir + '_final.log', processes=processes)
        if final.wait() != 0:
            sys.exit(f'the resume failed: see {work_dir}_final.log')
        same, count = compare(ref_state, final_state(work_dir)[1])
        figures.update(identical=same == count, tensors=count, identical_tensors=same)
        print(f'resumed: {same}/{count} tensors bit-identical to the uninterrupted run')
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(figures, f, indent=1)
        if same != count:
            sys.exit('FAILED: the resumed run ended with other weights')
        return

    figures = dict(config=args.config, kills=0, kinds={k: 0 for k in KINDS}, resumes=0,
                   sequences=[], damaged=[], reference_s=round(ref_time, 1))
    kills_left, sequence, idle = args.kills, 0, 0
    while kills_left > 0:
        sequence += 1
        if idle == 3:
            sys.exit('three sequences in a row finished before their kill: lengthen the run')
        work_dir = osp.join(root, f'faulted_{sequence}')
        attempt, resume, outcome = 0, False, 'killed'
        while kills_left > 0 and outcome == 'killed':
            attempt += 1
            kind = KINDS[(args.kills - kills_left) % len(KINDS)]
            done = last_step(work_dir)
            run = Training(args, work_dir, resume, osp.join(work_dir + f'_{attempt}.log'),
                           args.slow_write)
            # The run's remaining share of the reference time, plus its start-up.
            budget = ref_time * (0.25 + 0.75 * (total - done) / total)
            outcome = wait_and_kill(run, kind, rng, budget, work_dir,
                                    saves - done * saves // total)
            if outcome == 'failed':
                sys.exit(f'attempt {attempt} failed: see {work_dir}_{attempt}.log')
            if outcome == 'killed':
                kills_left -= 1
                figures['kills'] += 1
                figures['kinds'][kind] += 1
                problems = check_work_dir(work_dir)
                figures['damaged'] += problems
                print(f'sequence {sequence} kill {figures["kills"]} ({kind}) at '
                      f'{time.monotonic() - run.start:.1f} s, last checkpoint step {done} -> '
                      f'{last_step(work_dir)}, damaged files: {len(problems)}', flush=True)
                resume = True
        idle = idle + 1 if attempt == 1 and outcome == 'finished' else 0
        if outcome == 'killed':  # the last kill: finish the run
            figures['resumes'] += 1
            final = Training(args, work_dir, True, osp.join(work_dir + '_final.log'))
            if final.wait() != 0:
                sys.exit(f'the final resume failed: see {work_dir}_final.log')
        figures['resumes'] += attempt - 1
        path, state = final_state(work_dir)
        same, count = compare(ref_state, state)
        figures['sequences'].append(dict(work_dir=work_dir, final=path, identical=same,
                                         tensors=count))
        print(f'sequence {sequence}: {osp.basename(path)} vs reference '
              f'{osp.basename(ref_path)}: {same}/{count} tensors bit-identical', flush=True)

    identical = all(s['identical'] == s['tensors'] for s in figures['sequences'])
    figures['identical'] = identical
    print(f'{figures["kills"]} kills ({", ".join(f"{k} {v}" for k, v in figures["kinds"].items())}'
          f'), {figures["resumes"]} resumes, {len(figures["damaged"])} damaged files, final '
          f'weights {"identical" if identical else "DIFFERENT"} in '
          f'{len(figures["sequences"])} sequence(s); reference run {ref_time:.0f} s')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=1)
    if figures['damaged'] or not identical:
        sys.exit('FAILED: ' + '; '.join(figures['damaged'][:5]))


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
