"""Train a model from an mmdet, mmseg or mmpretrain config (mmengine's Runner only).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
"""
import argparse

from ghostv2_mm.checkpoint import checkpoint_damage
from ghostv2_mm.engine import check_run_checkpoint, resolve_resume, resume_hint
from ghostv2_mm.engine.runner_setup import add_common_args, check_data, load_config
from ghostv2_mm.errors import CheckpointError, exit_on_error
from ghostv2_mm.taps import check_taps
from mmengine.device import is_cuda_available, is_mlu_available, is_npu_available
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def parse_args():
    parser = argparse.ArgumentParser(description='Train a ghostv2_mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic mixed precision training (needs an accelerator)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual batch size (config auto_scale_lr)')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in the work dir when '
        'no path is given')
    add_common_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_config(args)
    check_data(cfg, ('train_dataloader', 'val_dataloader'))
    if args.amp:
        if not (is_cuda_available() or is_npu_available() or is_mlu_available()):
            raise SystemExit('--amp needs a CUDA, NPU or MLU device; none is available here')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise SystemExit('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = resolve_resume(cfg.work_dir)
    elif args.resume is not None:
        if damage := checkpoint_damage(args.resume):
            raise CheckpointError(f'--resume: checkpoint {args.resume} {damage}' +
                                  resume_hint(cfg.work_dir, exclude=args.resume))
        cfg.resume = True
        cfg.load_from = args.resume

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    check_taps(runner.model)  # a mismatch fails here, not in the first forward
    if cfg.get('load_from') and '://' not in cfg.load_from:
        # load_from alone is non-strict in mmengine (fine-tuning); resuming must fit exactly.
        check_run_checkpoint(runner.model, cfg.load_from, exact=False, resume=cfg.resume,
                             work_dir=cfg.work_dir)
    runner.train()


if __name__ == '__main__':
    exit_on_error(main, prefix='error: ')
