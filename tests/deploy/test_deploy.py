"""tools/deployment/deploy.py and test.py, and ``python -m ghostv2_mm.deploy.infer``, on generated
data with random weights (BN statistics and detection head biases randomised, so that BN folding
is exercised and the detector returns boxes): the deployed model gives PyTorch's outputs per
image in ONNX Runtime and OpenVINO fp32, its metric equals PyTorch's, it runs where PyTorch
cannot be imported, and bad inputs fail with one line naming them."""
import glob
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.tools.helpers import ROOT, run_tool

DET = 'configs/mmdet/yolov3_ghostv2_320_shapes.py'
SEG = 'configs/mmseg/deeplabv3_ghostv2_shapes.py'
CLS = 'configs/mmpretrain/ghostnetv2_1.0x_shapes.py'
DEPLOY = 'configs/mmdeploy/{}.py'
# A meta path finder that makes ``import torch`` (and the OpenMMLab libraries) fail.
BLOCKER = '''import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {names!r}:
            raise ImportError(name + ' is blocked')
sys.meta_path.insert(0, Block())
'''
BLOCKED = ('torch', 'mmengine', 'mmcv', 'mmdeploy', 'mmdet', 'mmseg', 'mmpretrain')


def random_checkpoint(config, out):
    """Random weights with non-trivial BN statistics (and, for YOLOv3, prediction biases that
    give boxes above mmdet's thresholds)."""
    from ghostv2_mm.apis import build_model
    torch.manual_seed(0)
    model = build_model(config, {'model.backbone.init_cfg': None})
    model.init_weights()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    if hasattr(model, 'bbox_head'):
        for conv in model.bbox_head.convs_pred:
            torch.nn.init.normal_(conv.weight, std=0.05)
            torch.nn.init.normal_(conv.bias, std=1.0)
    torch.save(dict(state_dict=model.state_dict(), meta={}), out)
    return str(out)


def data_options(kind, root):
    if kind == 'det':
        return [f'data_root={root}/', f'test_dataloader.dataset.data_root={root}/',
                f'test_evaluator.ann_file={root}/annotations/instances_val.json',
                f'val_evaluator.ann_file={root}/annotations/instances_val.json']
    if kind == 'seg':
        return [f'data_root={root}/', f'test_dataloader.dataset.data_root={root}/',
                f'train_dataloader.dataset.data_root={root}/']
    return [f'data_root={root}/', f'test_dataloader.dataset.data_root={root}/']


def val_images(kind, root):
    pattern = dict(det='images/val/*.jpg', seg='images/validation/*.jpg', cls='val/*/*.JPEG')
    return sorted(glob.glob(osp.join(root, pattern[kind])))


CASES = {
    ('det', 'onnxruntime'): (DET, 'detection_onnxruntime_static-320x320', 'tiny_det'),
    ('det', 'openvino'): (DET, 'detection_openvino_static-320x320', 'tiny_det'),
    ('seg', 'onnxruntime'): (SEG, 'segmentation_onnxruntime_dynamic', 'tiny_seg'),
    ('seg', 'openvino'): (SEG, 'segmentation_openvino_static-160x224', 'tiny_seg'),
    ('cls', 'onnxruntime'): (CLS, 'classification_onnxruntime_static', 'tiny_cls'),
    ('cls', 'openvino'): (CLS, 'classification_openvino_static', 'tiny_cls'),
}


@pytest.fixture(scope='module')
def deployed(request, tmp_path_factory):
    """Deploy each case once: (model config, deploy config, checkpoint, data root, work dir,
    deploy.py stdout)."""
    cache = {}

    def get(kind, backend):
        if (kind, backend) not in cache:
            config, deploy_cfg, fixture = CASES[kind, backend]
            root = request.getfixturevalue(fixture)
            tmp = tmp_path_factory.mktemp(f'{kind}_{backend}')
            ckpt = random_checkpoint(config, tmp / 'random.pth')
            work_dir = tmp / 'work'
            out = run_tool('tools/deployment/deploy.py', DEPLOY.format(deploy_cfg), config, ckpt,
                           val_images(kind, root)[0], '--work-dir', str(work_dir),
                           '--cfg-options', *data_options(kind, root)).stdout
            cache[kind, backend] = (config, DEPLOY.format(deploy_cfg), ckpt, root,
                                    str(work_dir), out)
        return cache[kind, backend]
    return get


def backend_file(work_dir, backend):
    return osp.join(work_dir, 'end2end.xml' if backend == 'openvino' else 'end2end.onnx')


# The tolerances on the metric (top-1 and mIoU in %, bbox mAP as a fraction).
METRIC_TOLERANCE = {'det': ('coco/bbox_mAP', 0.002), 'seg': ('mIoU', 0.1),
                    'cls': ('accuracy/top1', 0.1)}


@pytest.mark.parametrize('kind', ['det', 'seg', 'cls'])
@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_deploy_outputs_and_parity(deployed, kind, backend, tmp_path):
    import json
    config, deploy_cfg, ckpt, root, work_dir, stdout = deployed(kind, backend)
    for name in ('end2end.onnx', 'deploy.json', 'pipeline.json', 'detail.json',
                 'output_pytorch.jpg', f'output_{backend}.jpg', 'random_deploy.pth'):
        assert osp.isfile(osp.join(work_dir, name)), name
    if backend == 'openvino':
        assert osp.isfile(osp.join(work_dir, 'end2end.bin'))
    assert '[pytorch]' in stdout and f'[{backend} fp32]' in stdout and '[difference]' in stdout

    out = run_tool('tools/deployment/parity.py', deploy_cfg, config, ckpt, '--model',
                   backend_file(work_dir, backend), '--work-dir', str(tmp_path),
                   '--cfg-options', *data_options(kind, root)).stdout
    with open(tmp_path / 'parity.json') as f:
        result = json.load(f)
    assert result['per_image']['images'] == len(val_images(kind, root))
    key, tolerance = METRIC_TOLERANCE[kind]
    reference, value = result['metrics']['pytorch'][key], result['metrics']['deployed'][key]
    # Random weights: mIoU and top-1 are above 0; the detector's mAP may be 0, its boxes are
    # compared one by one below.
    assert (reference > 0 or kind == 'det') and \
        value == pytest.approx(reference, abs=tolerance), result
    assert f'{key}: {reference:.4f} | {value:.4f}' in out
    per_image = result['per_image']
    if kind == 'det':
        assert per_image['boxes_pytorch'] > 0 and per_image['same_box_count'] == 1, per_image
        assert per_image['matched'] == 1 and per_image['mean_iou'] > 0.999, per_image
        assert per_image['max_score_diff'] < 1e-4, per_image
    elif kind == 'seg':
        assert per_image['min_pixel_agreement'] > 0.999, per_image
    else:
        assert per_image['top1_agreement'] == 1 and per_image['max_score_diff'] < 1e-5, \
            per_image


def metric_of(stdout, key):
    values = re.findall(rf'{re.escape(key)}: ([0-9.]+)', stdout)
    assert values, f'no {key} in the output'
    return float(values[-1])


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_test_tool_metric_equals_pytorch(deployed, backend, tmp_path):
    config, deploy_cfg, ckpt, root, work_dir, _ = deployed('seg', backend)
    options = ['--cfg-options', *data_options('seg', root)]
    deployed_run = run_tool('tools/deployment/test.py', deploy_cfg, config, '--model',
                            backend_file(work_dir, backend), '--work-dir', str(tmp_path / 'd'),
                            '--speed-test', '--warmup', '1', '--log-interval', '2', *options)
    pytorch_run = run_tool('tools/test.py', config, ckpt, '--work-dir', str(tmp_path / 'p'),
                           *options)
    out = deployed_run.stdout + deployed_run.stderr
    miou = metric_of(out, 'mIoU')
    assert miou > 0
    assert miou == pytest.approx(metric_of(pytorch_run.stdout + pytorch_run.stderr, 'mIoU'),
                                 abs=0.1)
    name = 'openvino.Core' if backend == 'openvino' else 'onnxruntime'
    assert re.search(rf'\[{re.escape(name)}\]-\d+ times per count: [0-9.]+ ms', out), out[-2000:]


@pytest.mark.parametrize('kind,backend', [('det', 'onnxruntime'), ('seg', 'openvino')])
def test_infer_without_pytorch(deployed, kind, backend, tmp_path):
    from ghostv2_mm.deploy import convert
    from ghostv2_mm.deploy.backends import build_task_processor
    from ghostv2_mm.deploy.infer import Deployment
    config, deploy_cfg, ckpt, root, work_dir, _ = deployed(kind, backend)
    (tmp_path / 'sitecustomize.py').write_text(BLOCKER.format(names=BLOCKED))
    env = dict(__import__('os').environ, PYTHONPATH=f'{tmp_path}:{ROOT}')
    blocked = subprocess.run([sys.executable, '-c', 'import torch'], env=env,
                             capture_output=True, text=True)
    assert blocked.returncode != 0 and 'torch is blocked' in blocked.stderr
    img = val_images(kind, root)[1]
    out = tmp_path / 'out.png'
    result = subprocess.run([sys.executable, '-m', 'ghostv2_mm.deploy.infer', work_dir, img,
                             '--out', str(out)], env=env, capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert osp.getsize(out) > 0 and f'{backend} FP32' in result.stdout

    # The OpenCV pre-processing of pipeline.json gives the mmdeploy backend model's result.
    from mmengine.config import Config
    model_cfg = Config.fromfile(config)
    model_cfg.merge_from_dict(dict(o.split('=', 1) for o in data_options(kind, root)))
    processor, _, _ = build_task_processor(model_cfg, deploy_cfg)
    model = processor.build_backend_model(
        [backend_file(work_dir, backend)],
        data_preprocessor_updater=processor.update_data_preprocessor)
    expected = convert.predict(processor, model, img)
    actual = Deployment(work_dir)(img)
    if kind == 'det':
        inst = expected.pred_instances
        assert len(actual['scores']) == len(inst.scores) > 0
        np.testing.assert_allclose(actual['bboxes'], inst.bboxes.numpy(), atol=1e-3)
        np.testing.assert_allclose(actual['scores'], inst.scores.numpy(), atol=1e-5)
    else:
        agreement = (actual['sem_seg'] == expected.pred_sem_seg.data[0].numpy()).mean()
        assert agreement > 0.999


def test_damaged_work_dir_files_get_one_line(tmp_path):
    """A deploy.json or pipeline.json that is cut short or lacks its fields: one line naming it,
    no traceback."""
    (tmp_path / 'pipeline.json').write_text('{"pipeline": {"tasks": []}}')
    for text, message in (('{"task": "Detector", "mod', 'deploy.json is damaged: not JSON'),
                          ('{"task": "Detector", "models": []}',
                           'deploy.json or pipeline.json is not as deploy.py writes it '
                           '(IndexError')):
        (tmp_path / 'deploy.json').write_text(text)
        result = run_tool('-m', 'ghostv2_mm.deploy.infer', str(tmp_path), 'image.jpg',
                          check=False)
        assert result.returncode != 0
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith('error: ') and message in last and 'Traceback' not in result.stderr


def test_bad_inputs(deployed, tmp_path):
    from ghostv2_mm.deploy.infer import Deployment, DeployError
    config, deploy_cfg, ckpt, root, work_dir, _ = deployed('det', 'onnxruntime')
    missing = str(tmp_path / 'missing.jpg')
    result = run_tool('tools/deployment/deploy.py', deploy_cfg, config, ckpt, missing,
                      '--work-dir', str(tmp_path / 'w'), check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == f'IMAGE {missing} does not exist'
    not_image = tmp_path / 'notes.jpg'
    not_image.write_text('not an image')
    result = run_tool('-m', 'ghostv2_mm.deploy.infer', work_dir, str(not_image), check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == \
        f'error: IMAGE {not_image} is not an image OpenCV can read'
    result = run_tool('-m', 'ghostv2_mm.deploy.infer', str(tmp_path), val_images('det', root)[0],
                      check=False)
    assert result.stderr.strip().splitlines()[-1].startswith('error: ') and \
        'deploy.json does not exist' in result.stderr
    result = run_tool('tools/deployment/deploy.py', deploy_cfg, config, ckpt,
                      val_images('det', root)[0], '--work-dir', str(tmp_path / 'w'),
                      '--precision', 'bf16', check=False)
    assert result.stderr.strip().splitlines()[-1].startswith(
        '--precision bf16 is not available for onnxruntime')

    deployment = Deployment(work_dir)
    with pytest.raises(DeployError, match='uint8'):
        deployment(np.zeros((320, 320, 3), np.float32))
    with pytest.raises(DeployError, match=r'\(H, W, 3\)'):
        deployment(np.zeros((320, 320, 4), np.uint8))
    with pytest.raises(DeployError, match='static input'):
        deployment.run(np.zeros((1, 3, 256, 320), np.float32))


def test_static_onnxruntime_deployment_has_blocked_gates(deployed):
    """A static ONNX Runtime deployment exports the padded structure with the blocked-layout
    gates (the SE gates up-sampled to the features' size), the OpenVINO one the plain gates."""
    import onnx

    def resizes(backend):
        work_dir = deployed('det', backend)[4]
        return [n.op_type for n in onnx.load(osp.join(work_dir, 'end2end.onnx')).graph.node
                ].count('Resize')

    # YOLOv3-GhostNetV2: 14 DFC gates, 7 SE blocks, 2 up-samplings in the neck.
    assert resizes('openvino') == 14 + 2
    assert resizes('onnxruntime') == 14 + 7 + 2


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_int8_deployment(backend, tiny_det, tmp_path):
    """``deploy.py --precision int8``: the quantised model is written, named in deploy.json and
    compared with PyTorch; ONNX Runtime quantises the padded structure with the plain gates and
    the DFC pooling as a depthwise conv, OpenVINO the unpadded structure."""
    import json

    import onnx
    config, deploy_cfg, _ = CASES['det', backend]
    ckpt = random_checkpoint(config, tmp_path / 'random.pth')
    work_dir = tmp_path / 'work'
    out = run_tool('tools/deployment/deploy.py', DEPLOY.format(deploy_cfg), config, ckpt,
                   val_images('det', tiny_det)[0], '--work-dir', str(work_dir), '--precision',
                   'int8', '--calib-num', '4', '--cfg-options', *data_options('det', tiny_det),
                   # Calibration reads the training set.
                   f'train_dataloader.dataset.dataset.data_root={tiny_det}/').stdout
    assert 'calibrating int8 on 4 training images' in out
    assert f'[{backend} int8]' in out and '[difference]' in out
    net = 'end2end_int8.onnx' if backend == 'onnxruntime' else 'end2end_int8.xml'
    assert (work_dir / net).is_file()
    with open(work_dir / 'deploy.json') as f:
        model = json.load(f)['models'][0]
    assert model['net'] == net and model['precision'] == 'INT8'
    ops = [n.op_type for n in onnx.load(str(work_dir / 'end2end.onnx')).graph.node]
    # YOLOv3-GhostNetV2: 14 DFC branches; the plain gates (no up-sampled SE gates).
    assert ops.count('Resize') == 14 + 2
    if backend == 'onnxruntime':
        assert 'AveragePool' not in ops
        quantised = [n.op_type for n in onnx.load(str(work_dir / net)).graph.node]
        assert quantised.count('QuantizeLinear') > 50
    else:
        assert ops.count('AveragePool') == 14


def test_int8_runtime_crash_is_one_line(tiny_cls, tmp_path):
    """``deploy.py --precision int8`` where the runtime crashes on the quantised file (here a
    stand-in for OpenVINO's AMX int8 fault: the checking process kills itself with SIGSEGV):
    one line naming the file, the signal and the CPU, no traceback, and deploy.py itself lives."""
    config, deploy_cfg, _ = CASES['cls', 'openvino']
    ckpt = random_checkpoint(config, tmp_path / 'random.pth')
    args = [DEPLOY.format(deploy_cfg), config, ckpt, val_images('cls', tiny_cls)[0],
            '--work-dir', str(tmp_path / 'work'), '--precision', 'int8', '--calib-num', '2',
            '--cfg-options', *data_options('cls', tiny_cls),
            f'train_dataloader.dataset.data_root={tiny_cls}/']
    script = ('import runpy, sys\n'
              'from ghostv2_mm.deploy import runtime\n'
              'runtime._CHECK_SCRIPT = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"\n'
              f'sys.argv = {["deploy.py", *args]!r}\n'
              'runpy.run_path("tools/deployment/deploy.py", run_name="__main__")\n')
    result = run_tool('-c', script, check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert 'Traceback' not in result.stderr
    assert re.match(r'openvino crashed \(SIGSEGV\) running \S+end2end_int8\.xml \(int8, input '
                    r'1x3x64x64\) on this CPU \(.*\); the file is not usable here; keep more '
                    r'layers float', last), last
