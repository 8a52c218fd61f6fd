"""tools/misc/fault_test.py on the tiny classification set: three SIGKILLs (a random moment,
inside a checkpoint write, just after one), three resumes, no damaged file under a final name,
and final weights bit-identical to an uninterrupted run."""
import json

from .helpers import run_tool

CONFIG = 'configs/mmpretrain/ghostnetv2_1.0x_shapes.py'


def test_three_kills_resume_to_identical_weights(tiny_cls, tmp_path):
    options = [f'{loader}.dataset.data_root={tiny_cls}/'
               for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options += ['train_dataloader.batch_size=16', 'train_cfg.max_epochs=3',
                'train_cfg.val_interval=3', 'default_hooks.checkpoint.interval=1',
                'param_scheduler.0.end=2', 'param_scheduler.1.end=3']
    figures = tmp_path / 'figures.json'
    result = run_tool('tools/misc/fault_test.py', CONFIG, '--kills', '3', '--slow-write', '0.3',
                      '--work-dir', str(tmp_path / 'runs'), '--json', str(figures),
                      '--cfg-options', *options, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(figures.read_text())
    assert figures['kills'] == 3
    assert figures['kinds'] == {'time': 1, 'save': 1, 'after-save': 1}
    assert figures['resumes'] >= 3
    assert figures['damaged'] == []
    assert figures['identical']
    assert all(s['identical'] == s['tensors'] > 700 for s in figures['sequences'])


def short_run(data_root):
    """Two epochs, a checkpoint after each, on the tiny set."""
    options = [f'{loader}.dataset.data_root={data_root}/'
               for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    return options + ['train_dataloader.batch_size=4', 'train_cfg.max_epochs=2',
                      'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=1',
                      'param_scheduler.0.end=1', 'param_scheduler.1.end=2']


def test_disk_full_stops_in_one_line_and_resumes_identically(tiny_cls, tmp_path):
    figures = tmp_path / 'figures.json'
    result = run_tool('tools/misc/fault_test.py', CONFIG, '--mode', 'disk-full', '--work-dir',
                      str(tmp_path / 'runs'), '--json', str(figures), '--cfg-options',
                      *short_run(tiny_cls), check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(figures.read_text())
    assert figures['exit_code'] == 1
    assert figures['message'].startswith('error: cannot write ')
    assert 'epoch_2.pth: File too large (it needs ' in figures['message']
    assert figures['files_unchanged']
    assert figures['identical'] and figures['tensors'] > 700


def test_dead_rank_ends_the_run_and_resumes_identically(tiny_cls, tmp_path):
    figures = tmp_path / 'figures.json'
    result = run_tool('tools/misc/fault_test.py', CONFIG, '--mode', 'dead-rank', '--work-dir',
                      str(tmp_path / 'runs'), '--exit-within', '60', '--json', str(figures),
                      '--cfg-options', *short_run(tiny_cls), check=False,
                      env=dict(OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(figures.read_text())
    assert figures['exited'] and figures['exit_s'] < 60
    assert figures['identical'] and figures['tensors'] > 700
