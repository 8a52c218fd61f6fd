"""Evaluate a checkpoint with an mmdet, mmseg or mmpretrain config (mmengine's Runner only).

    python tools/test.py CONFIG CHECKPOINT [--out results.pkl] [--show-dir DIR] [--cfg-options ...]
"""
import argparse

from ghostv2_mm.checkpoint import checkpoint_damage
from ghostv2_mm.engine import check_run_checkpoint
from ghostv2_mm.engine.runner_setup import add_common_args, check_data, load_config
from ghostv2_mm.errors import CheckpointError, exit_on_error
from ghostv2_mm.taps import check_taps
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

# Visualization hooks of the three libraries and how each is told to draw into a folder.
VIS_HOOKS = {
    'DetVisualizationHook': lambda h, d: h.update(draw=True, test_out_dir=d),
    'SegVisualizationHook': lambda h, d: h.update(draw=True, interval=1),
    'VisualizationHook': lambda h, d: h.update(enable=True, out_dir=d),
}


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a ghostv2_mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump predictions to this pickle file')
    parser.add_argument('--show-dir', help='write drawn predictions into this folder')
    add_common_args(parser)
    return parser.parse_args()


def enable_visualization(cfg, show_dir):
    hook = cfg.default_hooks.get('visualization')
    if hook is None or hook.get('type') not in VIS_HOOKS:
        raise SystemExit('--show-dir: the config has no known visualization hook')
    VIS_HOOKS[hook['type']](hook, show_dir)
    if hook['type'] == 'SegVisualizationHook':
        # mmseg's hook writes under the visualizer's save_dir; point it at show_dir.
        cfg.visualizer.save_dir = show_dir


def main():
    args = parse_args()
    if damage := checkpoint_damage(args.checkpoint):
        raise CheckpointError(f'checkpoint {args.checkpoint} {damage}')
    cfg = load_config(args)
    check_data(cfg, ('test_dataloader', ))
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_visualization(cfg, args.show_dir)

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    check_taps(runner.model)  # a mismatch fails here, not in the first forward
    check_run_checkpoint(runner.model, args.checkpoint)
    if args.out:
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    exit_on_error(main, prefix='error: ')
