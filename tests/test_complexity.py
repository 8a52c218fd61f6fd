"""The paper's Table 2 figures for the ImageNet classifiers (params, MACs at 224x224)."""
import os.path as osp

import pytest

from ghostv2_mm.apis import build_model
from ghostv2_mm.complexity import count_complexity

CFG = osp.join(osp.dirname(osp.dirname(__file__)), 'configs', 'mmpretrain')


@pytest.mark.parametrize('config, overrides, params_m, macs_m', [
    ('ghostnetv2_1.0x_in1k.py', {}, 6.157, 167.0),
    ('ghostnetv2_1.3x_in1k.py', {}, 8.960, 269.3),
    ('ghostnetv2_1.6x_in1k.py', {}, 12.393, 398.6),
    ('ghostnetv1_1.1x_in1k.py',
     {'model.backbone.widen_factor': 1.0, 'model.head.in_channels': 960}, 5.183, 141.2),
    ('ghostnetv1_1.1x_in1k.py', {}, 5.856, 167.0),
])
def test_classifier_params_and_flops(config, overrides, params_m, macs_m):
    model = build_model(osp.join(CFG, config), overrides)
    result = count_complexity(model, (3, 224, 224), lambda x: model(x, mode='tensor'))
    assert result['params'] / 1e6 == pytest.approx(params_m, rel=5e-3)
    assert result['macs'] / 1e6 == pytest.approx(macs_m, rel=5e-3)


def test_counts_only_multiply_accumulates():
    import torch.nn as nn
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    result = count_complexity(model, (3, 10, 10))
    assert result['macs'] == 3 * 9 * 8 * 100 + 8 * 10
    assert result['params'] == 3 * 9 * 8 + 16 + 8 * 10 + 10


def test_metafile_matches_the_configs():
    import yaml
    with open(osp.join(CFG, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    root = osp.dirname(osp.dirname(CFG))
    for entry in meta['Models']:
        model = build_model(osp.join(root, entry['Config']))
        result = count_complexity(model, (3, 224, 224), lambda x, m=model: m(x, mode='tensor'))
        assert result['params'] == entry['Metadata']['Parameters']
        assert result['macs'] == entry['Metadata']['FLOPs']


@pytest.mark.parametrize('overrides, params_m, macs_m', [
    ({'dfc_layers': ()}, 5.2, 141),
    ({'dfc_position': 'expansion'}, 6.1, 167),
    ({'dfc_position': 'output'}, 6.1, 162),
    ({'dfc_position': 'both'}, 7.0, 188),
])
def test_table8_dfc_positions(overrides, params_m, macs_m):
    """Paper Table 8 (rounded to 0.1M params / 1M FLOPs there): within 2%."""
    model = build_model(osp.join(CFG, 'ghostnetv2_1.0x_in1k.py'),
                        {f'model.backbone.{k}': v for k, v in overrides.items()})
    result = count_complexity(model, (3, 224, 224), lambda x: model(x, mode='tensor'))
    assert result['params'] / 1e6 == pytest.approx(params_m, rel=0.02)
    assert result['macs'] / 1e6 == pytest.approx(macs_m, rel=0.02)


@pytest.mark.parametrize('stage, params_m, macs_m', [(0, 5.3, 150), (1, 5.4, 152), (2, 5.8, 147)])
def test_table7_dfc_in_one_stage(stage, params_m, macs_m):
    """Paper Table 7, stages by the resolution a bottleneck receives (GhostNetV2.paper_stages)."""
    from ghostv2_mm import GhostNetV2
    layers = GhostNetV2.paper_stages[stage]
    model = build_model(osp.join(CFG, 'ghostnetv2_1.0x_in1k.py'),
                        {'model.backbone.dfc_layers': layers})
    result = count_complexity(model, (3, 224, 224), lambda x: model(x, mode='tensor'))
    assert result['params'] / 1e6 == pytest.approx(params_m, rel=0.02)
    assert result['macs'] / 1e6 == pytest.approx(macs_m, rel=0.02)
