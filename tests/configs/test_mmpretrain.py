"""The classifier configs build through mmpretrain's registry and give logits of their classes."""
import glob
import os.path as osp

import pytest
import torch

pytest.importorskip('mmpretrain', reason='mmpretrain is installed by the "cls" extra '
                    '(tools/setup_env.sh)')

from ghostv2_mm import GhostNetV2  # noqa: E402
from ghostv2_mm.apis import build_model  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'mmpretrain', '**', '*.py'), recursive=True))


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_builds_and_predicts(config):
    model = build_model(config).eval()
    assert type(model).__name__ == 'ImageClassifier'
    num_classes = model.head.num_classes
    if isinstance(model.backbone, GhostNetV2):
        assert model.backbone.out_indices == (9, )
        assert model.backbone.deploy == config.endswith('_deploy.py')
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 64, 64), mode='tensor')
    assert logits.shape == (2, num_classes)
