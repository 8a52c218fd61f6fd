"""timm's ``ghostnetv2_100/130/160`` are the official network with the official parameter names;
its backbone part must load strictly into GhostNetV2 and give the same features."""
import pytest
import torch

from ghostv2_mm import GhostNetV2
from tests.utils import randomize_bn

timm = pytest.importorskip('timm', reason='timm is installed by the "tests" extra (tools/setup_env.sh)')

HEAD_KEYS = ('conv_head.', 'classifier.')


@pytest.mark.parametrize('widen_factor, name', [(1.0, 'ghostnetv2_100'), (1.3, 'ghostnetv2_130'),
                                                (1.6, 'ghostnetv2_160')])
@pytest.mark.parametrize('hw', [(224, 224), (97, 131)])
def test_timm_weights_load_and_match(widen_factor, name, hw):
    ref = randomize_bn(timm.create_model(name, num_classes=1000))
    model = GhostNetV2(widen_factor, out_indices=(9, )).eval()
    state = {k: v for k, v in ref.state_dict().items() if not k.startswith(HEAD_KEYS)}
    model.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, *hw)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], ref.forward_features(x), rtol=0, atol=1e-5)
