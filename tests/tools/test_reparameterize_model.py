"""tools/model_converters/reparameterize_model.py writes a deploy checkpoint that loads into the
config with model.backbone.deploy=True and gives the trained model's outputs."""
import pytest
import torch

from ghostv2_mm.apis import build_model, init_model
from tests.utils import randomize_bn

from .helpers import ROOT, run_tool

TOOL = 'tools/model_converters/reparameterize_model.py'
CASES = {
    'classifier': ('configs/mmpretrain/ghostnetv2_1.0x_shapes.py', (64, 64)),
    'detector': ('configs/mmdet/yolov3_ghostv2_320_shapes.py', (128, 160)),
    'segmentor': ('configs/mmseg/deeplabv3_ghostv2_shapes.py', (128, 128)),
}
NO_INIT = {'model.backbone.init_cfg': None}


def flat(outputs):
    if isinstance(outputs, (tuple, list)):
        return [t for o in outputs for t in flat(o)]
    return [outputs]


@pytest.mark.parametrize('task', list(CASES))
def test_deploy_checkpoint_loads_with_deploy_true(tmp_path, task):
    config, shape = CASES[task]
    model = randomize_bn(build_model(f'{ROOT}/{config}', NO_INIT))
    src, out = tmp_path / 'trained.pth', tmp_path / 'deploy.pth'
    torch.save(dict(state_dict=model.state_dict()), src)
    result = run_tool(TOOL, config, str(src), str(out), '--shape', *map(str, shape))
    assert 'loaded with model.backbone.deploy=True' in result.stdout

    deployed = init_model(f'{ROOT}/{config}', str(out), deploy=True)  # strict keys
    assert deployed.backbone.deploy
    x = torch.randn(2, 3, *shape)
    with torch.no_grad():
        expected = flat(model(x, mode='tensor'))
        actual = flat(deployed(x, mode='tensor'))
    # 1e-5 of the output scale (random BN statistics give outputs far from unit scale).
    scale = max(1., max(float(e.abs().max()) for e in expected))
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, rtol=0, atol=1e-5 * scale)
    # The training structure does not take the deploy checkpoint.
    with pytest.raises(RuntimeError, match='unexpected key'):
        init_model(f'{ROOT}/{config}', str(out))


def test_backbone_without_inference_structure(tmp_path):
    config = 'configs/mmdet/yolov3_mobilenetv2_320.py'
    src = tmp_path / 'trained.pth'
    torch.save(dict(state_dict=build_model(f'{ROOT}/{config}').state_dict()), src)
    result = run_tool(TOOL, config, str(src), str(tmp_path / 'deploy.pth'), check=False)
    assert result.returncode != 0 and 'no inference structure' in result.stderr
    assert 'Traceback' not in result.stderr  # one line
