"""Argument checks of ghostv2_mm.utils: the error names the argument and what is allowed."""
import pytest
import torch.nn as nn

from ghostv2_mm.utils import check_keys, check_layer_cfg


def test_check_keys():
    check_keys('dfc_cfg', dict(kernel_size=5), ('kernel_size', 'scale'))
    check_keys('dfc_cfg', None, ('kernel_size', ))
    with pytest.raises(ValueError, match=r"dfc_cfg has unknown keys 'kernal_size' \(did you mean "
                                         r"'kernel_size'\?\); allowed keys are \('kernel_size', "
                                         r"'scale'\)"):
        check_keys('dfc_cfg', dict(kernal_size=3), ('kernel_size', 'scale'))
    with pytest.raises(ValueError, match='dfc_cfg must be a dict'):
        check_keys('dfc_cfg', 3, ('kernel_size', ))


@pytest.mark.parametrize('kind, cfg', [
    ('norm', dict(type='BN')), ('norm', dict(type='GN', num_groups=2)), ('norm', dict(type='LN')),
    ('act', dict(type='ReLU')), ('act', dict(type='HSwish')), ('conv', dict(type='Conv2d')),
    ('norm', None), ('act', dict(type=nn.GELU)),
])
def test_valid_layer_cfgs(kind, cfg):
    check_layer_cfg(f'{kind}_cfg', cfg, kind)


@pytest.mark.parametrize('name, cfg, kind, message', [
    ('norm_cfg', dict(type='Bogus'), 'norm', "norm_cfg type 'Bogus' is not a registered layer; "
     'use a norm layer such as BN, SyncBN, GN, LN, IN'),
    ('act_cfg', dict(type='Relu'), 'act', "act_cfg type 'Relu' is not a registered layer"),
    ('norm_cfg', dict(type='ReLU'), 'norm', "norm_cfg type 'ReLU' .ReLU. is not a normalisation"),
    ('conv_cfg', 'Conv2d', 'conv', 'conv_cfg must be a dict with a "type" key'),
    ('act_cfg', dict(inplace=True), 'act', 'act_cfg must be a dict with a "type" key'),
    ('act_cfg', dict(type=len), 'act', 'act_cfg type must name an nn.Module'),
])
def test_invalid_layer_cfgs(name, cfg, kind, message):
    with pytest.raises(ValueError, match=message):
        check_layer_cfg(name, cfg, kind)


def test_none_can_be_refused():
    with pytest.raises(ValueError, match='norm_cfg must be a dict with a norm layer type'):
        check_layer_cfg('norm_cfg', None, 'norm', allow_none=False)
