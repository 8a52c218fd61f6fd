"""tools/deployment/benchmark.py: a random-weights classifier (BN statistics randomised) deployed
to ONNX Runtime and OpenVINO beside a LiteRT deployment that fails (its converter made missing)
gives one row a format in the table, CSV and JSON, the failure a row with its one-line error, and
the deployed metric PyTorch's; the deploy config of each model is found by its task, family and
input size."""
import csv
import json
import os.path as osp

import pytest
from mmengine.config import Config

from tests.deploy.test_deploy import (CLS, METRIC_TOLERANCE, data_options, random_checkpoint,
                                      val_images)

from .helpers import ROOT, run_tool

# The shapes models and their ONNX Runtime deploy configs.
DEPLOY_CFGS = {
    'mmpretrain/ghostnetv2_1.0x_shapes.py': 'classification_onnxruntime_static.py',
    'mmdet/yolov3_ghostv2_320_shapes.py': 'detection_onnxruntime_static-320x320.py',
    'mmdet/rtmdet_tiny_ghostv2_shapes.py': 'detection-rtmdet_onnxruntime_static-256x256.py',
    'mmdet/ssdlite_ghostv2_shapes.py': 'detection-ssdlite_onnxruntime_static-320x320.py',
    'mmdet/rtmdet-ins_tiny_ghostv2_shapes.py':
        'instance-seg-rtmdet-ins_onnxruntime_static-256x256.py',
    'mmseg/deeplabv3_ghostv2_shapes.py': 'segmentation_onnxruntime_static-160x224.py',
    'mmseg/lraspp_ghostv2_shapes.py': 'segmentation-lraspp_onnxruntime_static-392x549.py',
}


@pytest.mark.parametrize('model_cfg', list(DEPLOY_CFGS))
def test_deploy_config_of_model(model_cfg):
    from ghostv2_mm.deploy.convert import find_deploy_config
    cfg = Config.fromfile(osp.join(ROOT, 'configs', model_cfg))
    folder = osp.join(ROOT, 'configs', 'mmdeploy')
    assert find_deploy_config(cfg, 'onnxruntime', folder) == \
        osp.join(folder, DEPLOY_CFGS[model_cfg])


def test_deploy_config_keeps_the_family(tmp_path):
    """A family with deploy configs of its own (its post-processing) never falls back to the
    task's plain config; a model without one takes the plain config of its input size."""
    from ghostv2_mm.deploy.convert import find_deploy_config
    from ghostv2_mm.errors import DeployError
    for name in ('detection_onnxruntime_static-320x320.py',
                 'detection-ssdlite_openvino_static-320x320.py'):
        (tmp_path / name).write_text('')
    configs = {name: Config.fromfile(osp.join(ROOT, 'configs/mmdet', name))
               for name in ('yolov3_ghostv2_320_shapes.py', 'ssdlite_ghostv2_shapes.py',
                            'yolov3_ghostv2_416.py')}
    found = find_deploy_config(configs['yolov3_ghostv2_320_shapes.py'], 'onnxruntime',
                               str(tmp_path))
    assert found == str(tmp_path / 'detection_onnxruntime_static-320x320.py')
    with pytest.raises(DeployError, match=r'has no deploy config detection-ssdlite_onnxruntime_'
                                          r'static-320x320\.py for .*ssdlite_ghostv2_shapes'):
        find_deploy_config(configs['ssdlite_ghostv2_shapes.py'], 'onnxruntime', str(tmp_path))
    with pytest.raises(DeployError, match='detection_onnxruntime_static-416x416.py'):
        find_deploy_config(configs['yolov3_ghostv2_416.py'], 'onnxruntime', str(tmp_path))


def test_benchmark_table(tiny_cls, tmp_path):
    ckpt = random_checkpoint(CLS, tmp_path / 'random.pth')
    work_dir = tmp_path / 'bench'
    missing = str(tmp_path / 'no-onnx2tf')
    result = run_tool('tools/deployment/benchmark.py', CLS, ckpt, '--backends', 'onnxruntime',
                      'openvino', 'litert', '--precisions', 'fp32', '--repeats', '2',
                      '--warmup', '1', '--work-dir', str(work_dir),
                      '--cfg-options', *data_options('cls', tiny_cls),
                      env=dict(GHOSTV2_MM_ONNX2TF=missing))
    failure = (f'failed: the ONNX -> LiteRT converter onnx2tf is not installed ({missing}): '
               'run tools/setup_env.sh')
    table = result.stdout[result.stdout.index('\nbackend'):].strip().splitlines()
    assert table[0].split()[:5] == ['backend', 'precision', 'file', 'size', '(MB)']
    assert [line.split()[:2] for line in table[1:5]] == [
        ['pytorch', 'fp32'], ['onnxruntime', 'fp32'], ['openvino', 'fp32'], ['litert', 'fp32']]
    assert failure in table[4] and table[1].split()[-1] == table[2].split()[-1] == 'ok'

    with open(work_dir / 'benchmark.csv') as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((work_dir / 'benchmark.json').read_text())
    assert [r['backend'] for r in rows] == [r['backend'] for r in summary['rows']] == \
        ['pytorch', 'onnxruntime', 'openvino', 'litert']
    key, tolerance = METRIC_TOLERANCE['cls']
    assert summary['metric'] == key and summary['threads'] == 2 and summary['images'] == \
        len(val_images('cls', tiny_cls))
    assert all(r['metric'] == key for r in rows)
    pytorch, onnxruntime, openvino, litert = summary['rows']
    assert pytorch['value'] == summary['metrics']['pytorch'][key] > 0
    for row in (onnxruntime, openvino):
        assert row['status'] == 'ok' and row['size_mb'] > 1 and row['ms'] > 0
        assert osp.isfile(work_dir / row['file'])
        assert row['value'] == pytest.approx(pytorch['value'], abs=tolerance)
        assert row['difference'] == pytest.approx(row['value'] - pytorch['value'])
        assert row['speedup'] == pytest.approx(pytorch['ms'] / row['ms'])
    assert onnxruntime['file'] == osp.join('onnxruntime-fp32', 'end2end.onnx')
    assert (work_dir / 'onnxruntime-fp32' / 'deploy.json').is_file()
    assert litert['status'].startswith(failure) and '\n' not in litert['status']
    assert rows[3]['status'] == litert['status'] and litert['value'] is litert['ms'] is None
    assert osp.getsize(work_dir / 'metric_vs_latency.png') > 0
