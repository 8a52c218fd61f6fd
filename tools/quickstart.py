"""The README's main job (docs/main_job.md): a short, real CPU run of the whole pipeline on the
shapes datasets through the tools, as a user runs them: the GhostNetV2 1.0x classifier,
YOLOv3-GhostNetV2-320 from it, its test with drawn predictions, and its ONNX Runtime and OpenVINO
(fp32) deployments with their mAP and latency. Results: work_dirs/quickstart/summary.json.
"""
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time

from mmengine.runner import find_latest_checkpoint

from ghostv2_mm.engine.run_records import last_metric
from ghostv2_mm.synthetic import link
from ghostv2_mm.utils import tool_parser

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLS_CFG = 'configs/mmpretrain/ghostnetv2_1.0x_shapes.py'
DET_CFG = 'configs/mmdet/yolov3_ghostv2_320_shapes.py'
CLS_CKPT = 'checkpoints/ghostnetv2_1.0x_shapes.pth'
BACKENDS = ('onnxruntime', 'openvino')
# mmdeploy's TimeCounter line: "[<backend>.forward]-<n> times per count: <ms> ms, <fps> FPS".
LATENCY = re.compile(r'times per count: ([0-9.]+) ms')


def run(*args):
    print('\n$ python ' + ' '.join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def main():
    parser = tool_parser(__doc__)
    parser.add_argument('--work-dir', default='work_dirs/quickstart')
    for kind in ('cls', 'det'):
        parser.add_argument(f'--{kind}-epochs', type=int, help='override for a shorter run')
    args = parser.parse_args()
    start = time.time()
    work_dir = osp.join(ROOT, args.work_dir)
    cls_dir, det_dir = osp.join(work_dir, 'cls'), osp.join(work_dir, 'det')

    for kind in ('cls', 'det'):
        print('%s -> %s' % link(kind, osp.join(ROOT, 'data')))

    def epochs(n):  # options that shorten a shapes config to n epochs, validating and saving once
        if n is None:
            return []
        keys = ('train_cfg.max_epochs', 'train_cfg.val_interval',
                'default_hooks.checkpoint.interval', 'param_scheduler.1.end')
        return ['--cfg-options', *[f'{k}={n}' for k in keys]]

    run('tools/train.py', CLS_CFG, '--work-dir', cls_dir, *epochs(args.cls_epochs))
    os.makedirs(osp.join(ROOT, 'checkpoints'), exist_ok=True)
    shutil.copy(find_latest_checkpoint(cls_dir), osp.join(ROOT, CLS_CKPT))
    top1 = last_metric(cls_dir, 'accuracy/top1')

    run('tools/train.py', DET_CFG, '--work-dir', det_dir, *epochs(args.det_epochs))
    det_ckpt = find_latest_checkpoint(det_dir)
    train_map = last_metric(det_dir, 'coco/bbox_mAP')
    vis_dir = osp.join(det_dir, 'vis')
    run('tools/test.py', DET_CFG, det_ckpt, '--work-dir', det_dir, '--show-dir', vis_dir)
    test_map = last_metric(det_dir, 'coco/bbox_mAP')
    test_map50 = last_metric(det_dir, 'coco/bbox_mAP_50')

    deployed = {}
    image = sorted(glob.glob(osp.join(ROOT, 'data', 'shapes_det', 'images', 'val', '*')))[0]
    for backend in BACKENDS:
        deploy_cfg = f'configs/mmdeploy/detection_{backend}_static-320x320.py'
        out = osp.join(det_dir, f'deploy_{backend}')
        run('tools/deployment/deploy.py', deploy_cfg, DET_CFG, det_ckpt, image, '--work-dir', out)
        model = osp.join(out, 'end2end.onnx' if backend == 'onnxruntime' else 'end2end.xml')
        log = osp.join(out, 'test.log')
        run('tools/deployment/test.py', deploy_cfg, DET_CFG, '--model', model, '--work-dir',
            osp.join(out, 'test'), '--speed-test', '--warmup', '10', '--log-interval', '50',
            '--log2file', log)
        with open(log) as f:
            latency = LATENCY.findall(f.read())
        deployed[backend] = (last_metric(osp.join(out, 'test'), 'coco/bbox_mAP'),
                             float(latency[-1]) if latency else None)

    summary = {
        'classifier top-1 (%)': top1,
        'detector bbox mAP (training run)': train_map,
        'detector bbox mAP (tools/test.py)': test_map,
        'detector bbox mAP@0.5 (tools/test.py)': test_map50,
        **{f'detector bbox mAP ({backend} fp32, tools/deployment/test.py)': value[0]
           for backend, value in deployed.items()},
        **{f'detector latency ({backend} fp32, ms per image, 2 threads)': value[1]
           for backend, value in deployed.items()},
        'detector checkpoint': det_ckpt,
        'prediction images': vis_dir,
        'minutes': round((time.time() - start) / 60, 1),
    }
    with open(osp.join(work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print('\n' + '\n'.join(f'{k}: {v}' for k, v in summary.items()))


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
