"""DFC attention as a plug-in of mmpretrain's MobileNetV2 (paper Table 4)."""
import os.path as osp

import pytest
import torch

pytest.importorskip('mmpretrain', reason='mmpretrain is installed by the "cls" extra')

from ghostv2_mm.apis import build_model
from ghostv2_mm.complexity import count_complexity  # noqa: E402
from ghostv2_mm.models.layers import DFCGate  # noqa: E402

CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'mmpretrain',
                  'mobilenetv2-dfc_1.0x_in1k.py')


def test_mobilenetv2_dfc_matches_table4():
    model = build_model(CONFIG)
    gates = [m for m in model.backbone.modules() if isinstance(m, DFCGate)]
    assert len(gates) == 17  # one per inverted residual
    result = count_complexity(model, (3, 224, 224), lambda x: model(x, mode='tensor'))
    assert result['params'] / 1e6 == pytest.approx(4.3, rel=0.02)
    assert result['macs'] / 1e6 == pytest.approx(344, rel=0.02)


def test_gate_multiplies_by_the_attention_map():
    conv = torch.nn.Conv2d(8, 16, 1)
    gate = DFCGate(conv, 8, 16).eval()
    x = torch.randn(1, 8, 13, 9)
    torch.testing.assert_close(gate(x), conv(x) * gate.attn(x))
    model = build_model(CONFIG).eval()
    assert model(torch.randn(1, 3, 97, 131), mode='tensor').shape == (1, 1000)
