"""tools/analysis/benchmark.py measures every model and writes its table, JSON and plot."""
import json

from .helpers import run_tool


def test_benchmark_writes_results(tmp_path):
    result = run_tool('tools/analysis/benchmark.py', '--repeats', '1', '--warmup', '0',
                      '--train-repeats', '1', '--out-dir', str(tmp_path))
    assert 'DFC overhead' in result.stdout
    summary = json.loads((tmp_path / 'benchmark.json').read_text())
    names = [row['model'] for row in summary['rows']]
    assert names == ['GhostNetV2 1.0x', 'GhostNetV2 1.0x deploy', 'GhostNetV1 1.0x',
                     'GhostNetV1 1.1x', 'MobileNetV2 1.0x', 'MobileNetV3-Large',
                     'timm ghostnetv2_100']
    for row in summary['rows']:
        assert row['classifier@224 (ms)'] > 0 and row['backbone@416 (ms)'] > 0
    assert summary['dfc_overhead'] > 0 and summary['threads'] == 2
    assert (tmp_path / 'benchmark.csv').read_text().count('\n') == 8
    assert (tmp_path / 'accuracy_vs_latency.png').stat().st_size > 0
