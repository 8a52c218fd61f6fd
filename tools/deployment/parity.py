"""Parity of a deployed model with its PyTorch checkpoint on MODEL_CFG's test set: both metrics of
the config's evaluator (top-1, COCO bbox mAP, mIoU) side by side, and the per-image differences.

    python tools/deployment/parity.py DEPLOY_CFG MODEL_CFG CHECKPOINT --model FILE
        [--work-dir DIR] [--cfg-options KEY=VALUE ...] [--device cpu]

Every test image goes through the deployment's pre-processing once, and the same batch is given
to the PyTorch model of CHECKPOINT (the training structure, as ``tools/test.py`` loads it) and to
the backend model of FILE (ONNX Runtime, OpenVINO, ncnn or LiteRT, at the precision the file
was deployed for). Per image
(``ghostv2_mm.deploy.compare.difference``): detectors, the fraction of PyTorch's boxes matched
(same label, IoU >= 0.5), their IoU and score differences, and the box count; segmentors, the
pixel agreement; classifiers, top-1 agreement and the largest score difference. Results are
printed and written to WORK_DIR/parity.json.
"""
import json
import os
import os.path as osp
from copy import deepcopy

import numpy as np


def summarize(diffs):
    """Aggregate per-image :func:`~ghostv2_mm.deploy.compare.difference` dicts."""
    if 'pixel_agreement' in diffs[0]:
        agreement = [d['pixel_agreement'] for d in diffs]
        return dict(images=len(diffs), mean_pixel_agreement=float(np.mean(agreement)),
                    min_pixel_agreement=float(np.min(agreement)))
    if 'same_top1' in diffs[0]:
        return dict(images=len(diffs),
                    top1_agreement=float(np.mean([d['same_top1'] for d in diffs])),
                    max_score_diff=float(max(d['max_score_diff'] for d in diffs)))
    ious = [d['mean_iou'] for d in diffs if d['num_ref'] and d['matched']]
    return dict(images=len(diffs),
                boxes_pytorch=int(sum(d['num_ref'] for d in diffs)),
                boxes_deployed=int(sum(d['num'] for d in diffs)),
                matched=float(np.mean([d['matched'] for d in diffs])),
                mean_iou=float(np.mean(ious)) if ious else float('nan'),
                max_score_diff=float(max(d['max_score_diff'] for d in diffs)),
                same_box_count=float(np.mean([d['num'] == d['num_ref'] for d in diffs])))


def main():
    import torch
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope

    from ghostv2_mm.deploy.backends import build_test_setup, check_files, evaluation_parser
    from ghostv2_mm.deploy.compare import difference, format_difference
    parser = evaluation_parser(__doc__, './work_dirs/deploy_parity')
    parser.add_argument('checkpoint', help='the trained PyTorch checkpoint')
    args = parser.parse_args()
    check_files([('CHECKPOINT', args.checkpoint)])
    processor, model_cfg, backend, dataloader, deployed = build_test_setup(
        args.deploy_cfg, args.model_cfg, args.model, args.cfg_options, args.device)
    models = dict(pytorch=processor.build_pytorch_model(args.checkpoint), deployed=deployed)
    scope = model_cfg.get('default_scope', 'mmengine')
    evaluators = {}
    with DefaultScope.overwrite_default_scope(scope):
        for name in models:
            evaluators[name] = Evaluator(deepcopy(model_cfg.test_evaluator))
            evaluators[name].dataset_meta = dataloader.dataset.metainfo
        diffs = []
        with torch.no_grad():
            for data in dataloader:
                # test_step writes the predictions into the batch's data samples: one copy each.
                preds = {name: model.test_step(deepcopy(data)) for name, model in models.items()}
                for name, evaluator in evaluators.items():
                    evaluator.process(data_samples=preds[name], data_batch=data)
                diffs += [difference(ref, res)
                          for ref, res in zip(preds['pytorch'], preds['deployed'])]
        metrics = {name: evaluator.evaluate(len(dataloader.dataset))
                   for name, evaluator in evaluators.items()}
    models['deployed'].destroy()

    per_image = summarize(diffs)
    label = f'{backend} {osp.basename(args.model[0])}'
    print(f'\nmetric: PyTorch | {label} | difference')
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
