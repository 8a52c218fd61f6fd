"""tools/analysis/benchmark.py measures every model and writes its table, JSON and plot."""
import json

from .helpers import run_tool

TRAINABLE = {'GhostNetV2 1.0x', 'GhostNetV1 1.0x', 'GhostNetV1 1.1x', 'MobileNetV2 1.0x',
             'MobileNetV3-Large', 'timm ghostnetv2_100'}


def test_benchmark_writes_results(tmp_path):
    result = run_tool('tools/analysis/benchmark.py', '--repeats', '1', '--warmup', '0',
                      '--train-repeats', '1', '--out-dir', str(tmp_path))
    assert 'DFC overhead' in result.stdout
    summary = json.loads((tmp_path / 'benchmark.json').read_text())
    names = [row['model'] for row in summary['rows']]
    assert names == ['GhostNetV2 1.0x', 'GhostNetV2 1.0x deploy', 'GhostNetV2 1.0x ONNX Runtime',
                     'GhostNetV1 1.0x', 'GhostNetV1 1.0x deploy', 'GhostNetV1 1.0x ONNX Runtime',
                     'GhostNetV1 1.1x', 'MobileNetV2 1.0x', 'MobileNetV3-Large',
                     'timm ghostnetv2_100', 'timm ghostnetv2_100 channels-last']
    for row in summary['rows']:
        assert row['classifier@224 (ms)'] > 0 and row['backbone@416 (ms)'] > 0
        # Training throughput only for the trainable models.
        assert ('train images/s' in row) == (row['model'] in TRAINABLE)
    assert set(summary['dfc_overhead']) == {'eager', 'deploy', 'onnxruntime'}
    assert summary['threads'] == 2 and summary['onnxruntime_over_eager'] > 0
    assert list(summary['dfc_steps_ms']) == ['pooling', '1x1 conv', 'FCs', 'sigmoid',
                                             'gate multiply']
    assert all(t > 0 for t in summary['dfc_steps_ms'].values())
    assert 'The 14 DFC branches of GhostNetV2 1.0x deploy' in result.stdout
    assert (tmp_path / 'benchmark.csv').read_text().count('\n') == 12
    assert sorted(p.name for p in (tmp_path / 'onnx').iterdir()) == [
        f'GhostNetV{v}_1.0x_{part}.onnx' for v in (1, 2) for part in ('backbone', 'classifier')]
    assert (tmp_path / 'accuracy_vs_latency.png').stat().st_size > 0
