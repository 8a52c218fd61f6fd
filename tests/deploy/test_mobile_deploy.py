"""tools/deployment/deploy.py, parity.py and test.py, and ``python -m ghostv2_mm.deploy.infer``,
for ncnn and LiteRT: a small classifier, the shapes segmentor and (ncnn: its graph ends before the
post-processing, which the runtime model finishes in numpy) the YOLOv3 shapes detector with random
weights (BN statistics
randomised, so that BN folding is exercised) deploy from the configs/mmdeploy/ configs, their
metrics equal PyTorch's within the issue's tolerances, they run where PyTorch cannot be imported
with the result of mmdeploy's backend model, and bad inputs fail with one line naming them.
tests/deploy/test_deploy.py does the same for ONNX Runtime and OpenVINO; its helpers are used
here."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.deploy.test_deploy import (BLOCKED, BLOCKER, CLS, DEPLOY, DET, METRIC_TOLERANCE, SEG,
                                      data_options, metric_of, random_checkpoint, val_images)
from tests.deploy.test_mobile_runtimes import require
from tests.tools.helpers import ROOT, run_tool

CASES = {
    ('cls', 'ncnn'): (CLS, 'classification_ncnn_static', 'tiny_cls'),
    ('cls', 'litert'): (CLS, 'classification_litert_static', 'tiny_cls'),
    ('seg', 'ncnn'): (SEG, 'segmentation_ncnn_static-160x224', 'tiny_seg'),
    ('seg', 'litert'): (SEG, 'segmentation_litert_static-160x224', 'tiny_seg'),
    ('det', 'ncnn'): (DET, 'detection_ncnn_static-320x320', 'tiny_det'),
}
MODEL_FILE = {'ncnn': 'end2end.param', 'litert': 'end2end.tflite'}


@pytest.fixture(scope='module')
def deployed(request, tmp_path_factory):
    """Deploy each case once: (model config, deploy config, checkpoint, data root, work dir,
    deploy.py stdout)."""
    cache = {}

    def get(kind, backend):
        require(backend)
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


@pytest.fixture(scope='module')
def parity(deployed, tmp_path_factory):
    """parity.py's stdout and parity.json for each case, run once."""
    cache = {}

    def get(kind, backend):
        if (kind, backend) not in cache:
            config, deploy_cfg, ckpt, root, work_dir, _ = deployed(kind, backend)
            out_dir = tmp_path_factory.mktemp(f'parity_{kind}_{backend}')
            out = run_tool('tools/deployment/parity.py', deploy_cfg, config, ckpt, '--model',
                           osp.join(work_dir, MODEL_FILE[backend]), '--work-dir', str(out_dir),
                           '--cfg-options', *data_options(kind, root)).stdout
            with open(out_dir / 'parity.json') as f:
                cache[kind, backend] = out, json.load(f)
        return cache[kind, backend]
    return get


@pytest.mark.parametrize('kind,backend', list(CASES))
def test_deploy_outputs_and_parity(deployed, parity, kind, backend):
    """The files of the backend beside the ONNX file, deploy.json naming them, and the metric of
    the model config's evaluator equal to PyTorch's on the test set."""
    _, _, _, root, work_dir, stdout = deployed(kind, backend)
    model_file = MODEL_FILE[backend]
    names = ['end2end.onnx', model_file, model_file + '.io.json', 'deploy.json', 'pipeline.json',
             'output_pytorch.jpg', f'output_{backend}.jpg', 'random_deploy.pth']
    if backend == 'ncnn':
        names.append('end2end.bin')
    for name in names:
        assert osp.isfile(osp.join(work_dir, name)), name
    with open(osp.join(work_dir, 'deploy.json')) as f:
        info = json.load(f)
    assert info['task'] == dict(cls='Classifier', seg='Segmentor', det='Detector')[kind]
    assert (info['models'][0]['backend'], info['models'][0]['net'],
            info['models'][0]['precision']) == (backend, model_file, 'FP32')
    assert '[pytorch]' in stdout and f'[{backend} fp32]' in stdout and '[difference]' in stdout

    out, result = parity(kind, backend)
    assert result['backend'] == backend
    assert result['per_image']['images'] == len(val_images(kind, root))
    key, tolerance = METRIC_TOLERANCE[kind]
    reference, value = result['metrics']['pytorch'][key], result['metrics']['deployed'][key]
    # Random weights: the detector's mAP may be 0, its boxes are compared one by one below.
    assert (reference > 0 or kind == 'det') and \
        value == pytest.approx(reference, abs=tolerance), result
    assert f'{key}: {reference:.4f} | {value:.4f}' in out
    per_image = result['per_image']
    if kind == 'det':
        with open(osp.join(work_dir, model_file + '.io.json')) as f:
            assert json.load(f)['postprocess']['head'] == 'yolov3'
        assert per_image['boxes_pytorch'] > 0 and per_image['same_box_count'] == 1, per_image
        assert per_image['matched'] == 1 and per_image['mean_iou'] > 0.999, per_image
        assert per_image['max_score_diff'] < 1e-4, per_image
        # The ONNX file before conversion carries the same post-processing metadata: ONNX Runtime
        # finishes it the same way.
        from ghostv2_mm.deploy.runtime import RuntimeModel
        onnx_model = RuntimeModel(osp.join(work_dir, 'end2end.onnx'), 'onnxruntime')
        mobile = RuntimeModel(osp.join(work_dir, model_file), backend)
        x = np.random.default_rng(0).uniform(-2, 2, mobile.input_shape).astype(np.float32)
        expected, got = mobile(x), onnx_model(x)
        assert (expected['dets'][..., 4] > 0).any()  # boxes to compare (100 with this seed)
        assert onnx_model.output_names == mobile.output_names == ['dets', 'labels']
        np.testing.assert_allclose(got['dets'], expected['dets'], rtol=1e-3, atol=1e-3)
        np.testing.assert_array_equal(got['labels'], expected['labels'])
    elif kind == 'seg':
        assert per_image['min_pixel_agreement'] > 0.999, per_image
    else:
        assert per_image['top1_agreement'] == 1 and per_image['max_score_diff'] < 1e-4, \
            per_image


def test_test_tool_evaluates_and_times(deployed, parity, tmp_path):
    """tools/deployment/test.py evaluates the LiteRT file with the model config's evaluator (the
    mIoU PyTorch has) and logs its latency under the runtime's name."""
    config, deploy_cfg, _, root, work_dir, _ = deployed('seg', 'litert')
    run = run_tool('tools/deployment/test.py', deploy_cfg, config, '--model',
                   osp.join(work_dir, MODEL_FILE['litert']), '--work-dir', str(tmp_path),
                   '--speed-test', '--warmup', '1', '--log-interval', '2',
                   '--cfg-options', *data_options('seg', root))
    out = run.stdout + run.stderr
    reference = parity('seg', 'litert')[1]['metrics']['pytorch']['mIoU']
    assert metric_of(out, 'mIoU') == pytest.approx(reference, abs=0.1)
    assert re.search(r'\[litert\.Interpreter\]-\d+ times per count: [0-9.]+ ms', out), \
        out[-2000:]


@pytest.mark.parametrize('kind,backend', list(CASES))
def test_infer_without_pytorch(deployed, kind, backend, tmp_path):
    """``python -m ghostv2_mm.deploy.infer`` runs the work dir where ``import torch`` fails, and
    ``Deployment`` gives mmdeploy's backend model's result (mmpretrain's ``pred_score`` and
    ``pred_label`` for a classifier)."""
    from mmengine.config import Config

    from ghostv2_mm.deploy import convert
    from ghostv2_mm.deploy.backends import build_task_processor
    from ghostv2_mm.deploy.infer import Deployment
    config, deploy_cfg, _, root, work_dir, _ = deployed(kind, backend)
    (tmp_path / 'sitecustomize.py').write_text(BLOCKER.format(names=BLOCKED))
    env = dict(os.environ, PYTHONPATH=f'{tmp_path}:{ROOT}')
    img = val_images(kind, root)[1]
    out = tmp_path / 'out.png'
    result = subprocess.run([sys.executable, '-c', 'import torch'], env=env, capture_output=True,
                            text=True)
    assert result.returncode != 0 and 'torch is blocked' in result.stderr
    result = subprocess.run([sys.executable, '-m', 'ghostv2_mm.deploy.infer', work_dir, img,
                             '--out', str(out)], env=env, capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert osp.getsize(out) > 0 and f'{backend} FP32 {MODEL_FILE[backend]}' in result.stdout

    model_cfg = Config.fromfile(config)
    model_cfg.merge_from_dict(dict(o.split('=', 1) for o in data_options(kind, root)))
    processor, _, _ = build_task_processor(model_cfg, deploy_cfg)
    model = processor.build_backend_model(
        [osp.join(work_dir, MODEL_FILE[backend])],
        data_preprocessor_updater=processor.update_data_preprocessor)
    expected = convert.predict(processor, model, img)
    actual = Deployment(work_dir)(img)
    if kind == 'cls':
        assert set(actual) == {'pred_score', 'pred_label'}
        assert actual['pred_label'] == int(expected.pred_label.item())
        np.testing.assert_allclose(actual['pred_score'], expected.pred_score.numpy(), atol=1e-5)
        assert 'top-1 ' in result.stdout
    elif kind == 'det':
        inst = expected.pred_instances
        assert len(actual['scores']) == len(inst.scores) > 0
        np.testing.assert_allclose(actual['bboxes'], inst.bboxes.numpy(), atol=1e-3)
        np.testing.assert_allclose(actual['scores'], inst.scores.numpy(), atol=1e-5)
        np.testing.assert_array_equal(actual['labels'], inst.labels.numpy())
    else:
        agreement = (actual['sem_seg'] == expected.pred_sem_seg.data[0].numpy()).mean()
        assert agreement > 0.999


def test_bad_inputs(deployed, tmp_path):
    """A precision the backend does not have and a missing converter stop deploy.py with one
    line before the export; a wrong image stops Deployment with the other backends' errors."""
    from ghostv2_mm.deploy.infer import Deployment, DeployError
    config, deploy_cfg, ckpt, root, work_dir, _ = deployed('cls', 'ncnn')
    img = val_images('cls', root)[0]
    result = run_tool('tools/deployment/deploy.py', deploy_cfg, config, ckpt, img, '--work-dir',
                      str(tmp_path / 'w'), '--precision', 'int8', check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(
        '--precision int8 is not available for ncnn (choose from fp32, fp16')
    missing = str(tmp_path / 'no-onnx2tf')
    result = run_tool('tools/deployment/deploy.py', DEPLOY.format(CASES['cls', 'litert'][1]),
                      config, ckpt, img, '--work-dir', str(tmp_path / 'w'), check=False,
                      env=dict(GHOSTV2_MM_ONNX2TF=missing))
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert re.fullmatch(rf'the ONNX -> LiteRT converter onnx2tf is not installed '
                        rf'\({re.escape(missing)}\): run tools/setup_env\.sh.*',
                        result.stderr.strip().splitlines()[-1])
    assert not (tmp_path / 'w' / 'end2end.onnx').exists()

    for backend in ('ncnn', 'litert'):
        deployment = Deployment(deployed('cls', backend)[4])
        with pytest.raises(DeployError, match='uint8'):
            deployment(np.zeros((64, 64, 3), np.float32))
        with pytest.raises(DeployError, match=r'\(H, W, 3\)'):
            deployment(np.zeros((64, 64, 4), np.uint8))
        with pytest.raises(DeployError, match=rf'static input .*{MODEL_FILE[backend]}'):
            deployment.run(np.zeros((1, 3, 64, 72), np.float32))
