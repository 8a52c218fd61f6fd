"""tools/analysis/visualize_dfc.py writes non-constant attention maps of the image's size."""
import os.path as osp

import cv2
import numpy as np
import torch

from ghostv2_mm.apis import build_model
from ghostv2_mm.synthetic import render
from ghostv2_mm.visualization import dfc_maps

from .helpers import ROOT, run_tool

CONFIG = 'configs/mmpretrain/ghostnetv2_1.0x_shapes.py'
TOOL = 'tools/analysis/visualize_dfc.py'


def test_maps_are_written(tmp_path):
    model = build_model(osp.join(ROOT, CONFIG))
    model.init_weights()
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    image, _ = render(7, (150, 210))
    cv2.imwrite(str(tmp_path / 'image.png'), image)
    out = tmp_path / 'vis'
    run_tool(TOOL, CONFIG, str(ckpt), str(tmp_path / 'image.png'), '--layers', '2', '9', '15',
             '--pixel', '40', '100', '--out-dir', str(out))
    files = sorted(out.glob('*.png'))
    assert [f.name for f in files] == sorted(f'layer{i}_{n}.png' for i in (2, 9, 15)
                                             for n in ('horizontal', 'vertical', 'full'))
    for f in files:
        vis = cv2.imread(str(f))
        assert vis.shape == (150, 210, 3)
        assert not np.array_equal(vis, image)
    # The maps themselves vary over the image (a constant map would give a flat overlay).
    block = model.backbone.blocks[6][4]
    x = torch.randn(1, block.ghost1.primary_conv[0].in_channels, 10, 14)
    with torch.no_grad():
        size = block.ghost1(x).shape[-2:]
    for heat in dfc_maps(block.ghost1.short_conv.eval(), x, size, (0.5, 0.5)):
        assert heat.std() > 0

    bad = run_tool(TOOL, CONFIG, str(ckpt), str(tmp_path / 'image.png'), '--layers', '1',
                   '--out-dir', str(out), check=False)
    assert bad.returncode != 0 and 'bottleneck 1 has no DFC attention' in bad.stderr
