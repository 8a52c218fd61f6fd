"""Parity of a deployed model with its PyTorch checkpoint on MODEL_CFG's test set: both metrics of
the config's evaluator (top-1, COCO bbox mAP, mIoU) side by side, and the per-image differences
(``ghostv2_mm.deploy.compare.difference``; docs/deployment.md).

    python tools/deployment/parity.py DEPLOY_CFG MODEL_CFG CHECKPOINT --model FILE [options]

Each test batch, pre-processed once, goes to the PyTorch model of CHECKPOINT (the training
structure) and to the backend model of FILE. Results are printed and written to
WORK_DIR/parity.json.
"""
import json
import os
import os.path as osp


def main():
    from ghostv2_mm.deploy.backends import build_test_setup, check_files, evaluation_parser
    from ghostv2_mm.deploy.compare import format_difference
    from ghostv2_mm.deploy.convert import evaluate, summarize
    parser = evaluation_parser(__doc__, './work_dirs/deploy_parity')
    parser.add_argument('checkpoint', help='the trained PyTorch checkpoint')
    args = parser.parse_args()
    check_files([('CHECKPOINT', args.checkpoint)])
    processor, model_cfg, backend, dataloader, deployed = build_test_setup(
        args.deploy_cfg, args.model_cfg, args.model, args.cfg_options, args.device)
    models = dict(pytorch=processor.build_pytorch_model(args.checkpoint), deployed=deployed)
    metrics, diffs = evaluate(models, dataloader, model_cfg, reference='pytorch')
    deployed.destroy()

    per_image = summarize(diffs['deployed'])
    print(f'\nmetric: PyTorch | {backend} {osp.basename(args.model[0])} | difference')
    for key, value in metrics['pytorch'].items():
        other = metrics['deployed'].get(key)
        if isinstance(value, (int, float)) and isinstance(other, (int, float)):
            print(f'{key}: {value:.4f} | {other:.4f} | {other - value:+.4f}')
    print('per image: ' + format_difference(per_image))
    os.makedirs(args.work_dir, exist_ok=True)
    with open(osp.join(args.work_dir, 'parity.json'), 'w') as f:
        json.dump(dict(deploy_cfg=args.deploy_cfg, model_cfg=args.model_cfg,
                       checkpoint=args.checkpoint, model=args.model, backend=backend,
                       metrics=metrics, per_image=per_image), f, indent=1)


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
