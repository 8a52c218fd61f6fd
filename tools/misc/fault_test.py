"""Fault a short training, resume it with ``--resume``, and check that it ends with the same
weights as an uninterrupted run (manual: docs/faults.md).

    python tools/misc/fault_test.py CONFIG [--mode kill|disk-full|dead-rank] [--kills N]
        [--work-dir DIR] [--seed S] [--slow-write SECONDS] [--exit-within S] [--json OUT]
        [--cfg-options k=v ...]

kill: SIGKILL the run --kills times, cycling through a random moment, inside a checkpoint write
and just after one; every file under a final name must stay intact. disk-full: resume under a
file size limit of half a checkpoint, which must stop in one line and change no file. dead-rank:
SIGKILL rank 1 of a 2-process run, which must exit within --exit-within seconds.
"""
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
from pathlib import Path

from ghostv2_mm.checkpoint import checkpoint_damage, load_checkpoint_file, state_dict_of
from ghostv2_mm.engine.atomic import PARTIAL_SUFFIX, SLOW_WRITE_ENV
from ghostv2_mm.utils import tool_parser

KINDS = ('time', 'save', 'after-save')
TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(TOOLS, 'train.py')


def parse_args(argv=None):
    parser = tool_parser(__doc__)
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
        if processes == 1:
            cmd = [sys.executable, TRAIN, args.config]
        else:
            cmd = ['bash', osp.join(TOOLS, 'dist_train.sh'), args.config, str(processes)]
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
        self.wait()

    def wait(self, what=None):
        """The exit code; with ``what`` (the run's name), a non-zero one exits naming the log."""
        code = self.proc.wait()
        self.log.close()
        if what and code != 0:
            sys.exit(f'{what} failed: see {self.log_file}')
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


def pointed(work_dir):
    """The file ``last_checkpoint`` names ('' when empty), or None when there is none."""
    pointer = Path(work_dir, 'last_checkpoint')
    return pointer.read_text().strip() if pointer.exists() else None


def wait_for_checkpoint(run, work_dir):
    """Wait until ``run`` wrote its first checkpoint (``last_checkpoint`` exists)."""
    while run.running() and not osp.exists(osp.join(work_dir, 'last_checkpoint')):
        time.sleep(0.05)
    if not run.running():
        sys.exit(f'the run ended before its first checkpoint: see {run.log_file}')


def snapshot(work_dir):
    """Content of the checkpoint files and ``last_checkpoint`` of ``work_dir``."""
    files = glob.glob(osp.join(work_dir, '*.pth*')) + [osp.join(work_dir, 'last_checkpoint')]
    return {osp.basename(p): hash(Path(p).read_bytes()) for p in files}


def disk_full(args, run, work_dir, figures):
    """Kill ``run`` and resume it under a file size limit of half its checkpoint."""
    run.kill()
    before = snapshot(work_dir)
    limit = osp.getsize(pointed(work_dir)) // 2
    code = Training(args, work_dir, True, work_dir + '_2.log', max_file_size=limit).wait()
    lines = Path(work_dir + '_2.log').read_text().strip().splitlines()
    message = lines[-1].strip() if lines else ''
    unchanged = snapshot(work_dir) == before
    figures.update(exit_code=code, message=message, limit_bytes=limit, files_unchanged=unchanged)
    print(f'under a {limit}-byte file size limit: exit code {code}, "{message}"; '
          f'checkpoints and last_checkpoint {"unchanged" if unchanged else "CHANGED"}')
    if code == 0 or not re.search(r'cannot write .*epoch_\d+\.pth.* needs \d+ bytes', message):
        sys.exit(f'FAILED: the run under the limit did not stop with the message (see '
                 f'{work_dir}_2.log)')
    if not unchanged:
        sys.exit('FAILED: the failed write changed the checkpoints or last_checkpoint')


def dead_rank(args, run, work_dir, figures):
    """Kill rank 1 of ``run`` and wait for the others to exit."""
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


def last_step(work_dir):
    match = re.search(r'_(\d+)\.pth$', pointed(work_dir) or '')
    return int(match.group(1)) if match else 0


def check_work_dir(work_dir):
    """Damaged files under final names: ``*.pth`` and the target of ``last_checkpoint``."""
    problems = [f'{p} {d}' for p in glob.glob(osp.join(work_dir, '*.pth'))
                if (d := checkpoint_damage(p))]
    target = pointed(work_dir)
    if target is not None:
        damage = checkpoint_damage(target) if target else 'is empty'
        if damage:
            problems.append(f'last_checkpoint -> {target!r} {damage}')
    return problems


def watched(work_dir, kind):
    """Checkpoint writes under way (save) or checkpoint files with their times (after-save): a new
    item is the event a kill of ``kind`` waits for."""
    if kind == 'save':
        return set(glob.glob(osp.join(work_dir, '*.pth' + PARTIAL_SUFFIX)))
    return {(p, osp.getmtime(p)) for p in glob.glob(osp.join(work_dir, '*.pth'))}


def wait_and_kill(run, kind, rng, budget, work_dir, saves_left):
    """Kill ``run`` at a moment of ``kind``; returns what happened ('killed' or 'finished')."""
    poll = 0.02
    if kind == 'time':
        deadline = run.start + rng.uniform(0.05, 0.7) * budget
        while run.running() and time.monotonic() < deadline:
            time.sleep(poll)
    else:  # a random one of the saves left, while it is written or just after
        # (save) a .partial file the last kill left counts as the first write
        before = set() if kind == 'save' else watched(work_dir, kind)
        target, seen = rng.randint(1, max(1, saves_left)), 0
        while run.running():
            now = watched(work_dir, kind)
            seen += bool(now - before)
            before = now
            if seen == target:
                time.sleep(rng.uniform(0, 0.08 if kind == 'save' else 0.5))
                break
            time.sleep(poll)
    if not run.running():
        return 'finished' if run.wait() == 0 else 'failed'
    run.kill()
    return 'killed'


def final_state(work_dir):
    path = pointed(work_dir)
    return path, state_dict_of(load_checkpoint_file(path), path)


def compare(reference, other):
    import torch
    same = sum(torch.equal(v, other[k]) for k, v in reference.items()) \
        if reference.keys() == other.keys() else 0
    return same, len(reference)


def total_steps(args):
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    if args.cfg_options:  # parsed as tools/train.py parses them
        overrides = ['--cfg-options', *args.cfg_options]
        cfg.merge_from_dict(tool_parser(None, 'overrides').parse_args(overrides).cfg_options)
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
    ref.wait('the uninterrupted run')
    ref_time = time.monotonic() - ref.start
    ref_path, ref_state = final_state(ref_dir)
    if args.mode != 'kill':
        figures = dict(config=args.config, mode=args.mode, reference_s=round(ref_time, 1))
        work_dir = osp.join(root, args.mode.replace('-', '_'))
        run = Training(args, work_dir, False, work_dir + '_1.log', processes=processes)
        wait_for_checkpoint(run, work_dir)
        (disk_full if args.mode == 'disk-full' else dead_rank)(args, run, work_dir, figures)
        Training(args, work_dir, True, work_dir + '_final.log', processes=processes).wait(
            'the resume')
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
    sequence, idle = 0, 0
    while figures['kills'] < args.kills:
        sequence += 1
        if idle == 3:
            sys.exit('three sequences in a row finished before their kill: lengthen the run')
        work_dir = osp.join(root, f'faulted_{sequence}')
        attempt, outcome = 0, 'killed'
        while figures['kills'] < args.kills and outcome == 'killed':
            attempt += 1
            kind = KINDS[figures['kills'] % len(KINDS)]
            done = last_step(work_dir)
            run = Training(args, work_dir, attempt > 1, f'{work_dir}_{attempt}.log',
                           args.slow_write)
            # The run's remaining share of the reference time, plus its start-up.
            budget = ref_time * (0.25 + 0.75 * (total - done) / total)
            outcome = wait_and_kill(run, kind, rng, budget, work_dir,
                                    saves - done * saves // total)
            if outcome == 'failed':
                sys.exit(f'attempt {attempt} failed: see {work_dir}_{attempt}.log')
            if outcome == 'killed':
                figures['kills'] += 1
                figures['kinds'][kind] += 1
                problems = check_work_dir(work_dir)
                figures['damaged'] += problems
                print(f'sequence {sequence} kill {figures["kills"]} ({kind}) at '
                      f'{time.monotonic() - run.start:.1f} s, last checkpoint step {done} -> '
                      f'{last_step(work_dir)}, damaged files: {len(problems)}', flush=True)
        idle = idle + 1 if attempt == 1 and outcome == 'finished' else 0
        if outcome == 'killed':  # the last kill: finish the run
            figures['resumes'] += 1
            Training(args, work_dir, True, work_dir + '_final.log').wait('the final resume')
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
