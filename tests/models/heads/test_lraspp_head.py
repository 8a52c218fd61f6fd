"""SizeCheckedLRASPPHead is mmseg's LRASPPHead (same outputs) that refuses a last input smaller
than its AvgPool2d(49) with the smallest image size, instead of PyTorch's pooling error."""
import pytest
import torch

pytest.importorskip('mmseg', reason='mmseg is installed by the "seg" extra (tools/setup_env.sh)')

from mmseg.models.decode_heads import LRASPPHead  # noqa: E402

from ghostv2_mm.errors import ConfigError  # noqa: E402
from ghostv2_mm.models.heads.lraspp_head import SizeCheckedLRASPPHead  # noqa: E402


@pytest.fixture(autouse=True)
def mmseg_scope():
    """mmseg's registries, whatever scope earlier tests left as the default."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmseg'):
        yield


HEAD = dict(in_channels=(4, 6, 8), in_index=(0, 1, 2), channels=8,
            input_transform='multiple_select', num_classes=3, norm_cfg=dict(type='BN'))


def features(size, stride=8):
    """Maps at strides 2, 4 and ``stride`` of a ``size`` x ``size`` image."""
    strides = (2, 4, stride)
    return [torch.randn(1, c, -(-size // s), -(-size // s)) for c, s in zip((4, 6, 8), strides)]


def test_same_outputs_as_mmsegs_head():
    ours, theirs = SizeCheckedLRASPPHead(**HEAD).eval(), LRASPPHead(**HEAD).eval()
    theirs.load_state_dict(ours.state_dict())
    x = features(392)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize('stride, smallest', [(8, 385), (16, 769)])
def test_smallest_input_is_named_and_runs(stride, smallest):
    head = SizeCheckedLRASPPHead(feature_stride=stride, **HEAD).eval()
    assert head.min_input_size == smallest
    with torch.no_grad():
        head(features(smallest, stride))
        with pytest.raises(ConfigError, match=f'at least {smallest} px on each side'):
            head(features(smallest - 1, stride))
        with pytest.raises(RuntimeError, match='too small'):  # what mmseg's head says
            LRASPPHead(**HEAD).eval()(features(smallest - 1, stride))


@pytest.mark.parametrize('stride', [0, 8.0, True])
def test_bad_feature_stride(stride):
    with pytest.raises(ConfigError, match='feature_stride must be a positive int'):
        SizeCheckedLRASPPHead(feature_stride=stride, **HEAD)
