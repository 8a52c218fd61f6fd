"""tools/analysis/benchmark.py measures every classifier in each runtime's own process and writes
its table, ratios, JSON, CSV and plot (a short run: one round, no warm-up)."""
import csv
import json

from .helpers import run_tool

# ncnn converts in a second a model (LiteRT's conversion, 20 s a model, is tested in
# tests/deploy/test_mobile_runtimes.py).
RUNTIMES = ['eager', 'deploy', 'onnxruntime', 'openvino-fp32', 'openvino-bf16', 'ncnn']
CLASSIFIERS = ['GhostNetV2 1.0x', 'GhostNetV1 1.0x', 'GhostNetV1 1.1x', 'MobileNetV2 1.0x',
               'MobileNetV3-Large', 'timm ghostnetv2_100']


def test_benchmark_writes_results(tmp_path):
    result = run_tool('tools/analysis/benchmark.py', '--tasks', 'cls', '--runtimes', *RUNTIMES,
                      '--repeats', '1', '--warmup', '0', '--train-batch', '2',
                      '--train-repeats', '1', '--out-dir', str(tmp_path))
    assert 'DFC overhead, GhostNetV2 1.0x / GhostNetV1 1.0x (224) [<= 1.15]' in result.stdout
    summary = json.loads((tmp_path / 'benchmark.json').read_text())
    assert summary['failures'] == {}
    # Every table names the CPU it was measured on.
    assert summary['cpu'].split(',')[0] in result.stdout and summary['cpu'] != 'unknown CPU'
    measured = {(r['runtime'], r['model']): r for r in summary['rows']}
    for runtime in RUNTIMES:
        for name in CLASSIFIERS:
            if runtime == 'deploy' and name.startswith('timm'):
                assert (runtime, name) not in measured  # no inference structure of ours
                continue
            row = measured[(runtime, name)]
            assert row['ms'] > 0 and row['threads'] == 2
    assert measured[('openvino-bf16', 'GhostNetV2 1.0x')]['precision'] == 'bf16'
    assert measured[('onnxruntime', 'GhostNetV2 1.0x')]['precision'] == 'fp32'
    assert measured[('ncnn', 'timm ghostnetv2_100')]['ms'] > 0
    overhead = summary['ratios']['DFC overhead, GhostNetV2 1.0x / GhostNetV1 1.0x (224)']
    assert set(overhead) == {'target', *RUNTIMES} and overhead['target'] == 1.15
    ms = measured[('openvino-fp32', 'GhostNetV2 1.0x')]['ms']
    assert overhead['openvino-fp32'] == ms / measured[('openvino-fp32', 'GhostNetV1 1.0x')]['ms']
    assert set(summary['train_images_per_s']) == {
        f'{n}, {layout}' for n in ('GhostNetV2 1.0x', 'GhostNetV1 1.0x', 'MobileNetV3-Large')
        for layout in ('NCHW', 'channels-last')}
    with open(tmp_path / 'benchmark.csv') as f:
        assert len(list(csv.DictReader(f))) == len(summary['rows'])
    assert (tmp_path / 'accuracy_vs_latency.png').stat().st_size > 0


def test_every_whole_model_task_has_its_models_and_deploy_configs():
    """The tasks measured whole through mmdeploy (YOLOv3, DeepLabV3 and the light heads beside
    their stock twins): both models build from their configs (mmseg's on a CPU), each ratio's
    models are the task's, and each backend has the task's deploy config at the task's size."""
    import importlib.util
    import os.path as osp

    from mmengine.config import Config

    from ghostv2_mm.apis import build_model
    spec = importlib.util.spec_from_file_location('benchmark', 'tools/analysis/benchmark.py')
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    for label, (task, a, b, _) in benchmark.CHECKS.items():
        assert a in benchmark.MODELS[task] and b in benchmark.MODELS[task], label
    for task in ('rtmdet640', 'ssdlite320', 'lraspp512x1024'):
        h, w = benchmark.SIZES[task]
        for backend in ('onnxruntime', 'openvino'):
            path = osp.join(benchmark.CFG, 'mmdeploy', benchmark.DEPLOY_CFGS[task].format(backend))
            assert Config.fromfile(path).onnx_config.input_shape == [w, h], path
        params = {}
        for name in benchmark.MODELS[task]:
            model = build_model(benchmark.model_config(task, name),
                                {'model.backbone.init_cfg': None})
            params[name] = sum(p.numel() for p in model.parameters())
        assert len(set(params.values())) == 2, params  # two different networks
