"""Every config is listed in its folder's metafile.yml, every metafile in model-index.yml, and
every listed config exists and loads."""
import glob
import os.path as osp

import pytest
import yaml
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODEL_CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for lib in ('mmpretrain', 'mmdet', 'mmseg')
    for p in glob.glob(osp.join(ROOT, 'configs', lib, '**', '*.py'), recursive=True))


def indexed():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    entries = {}
    for metafile in index['Import']:
        with open(osp.join(ROOT, metafile)) as f:
            for model in yaml.safe_load(f)['Models']:
                entries[model['Config']] = model
    return entries


def test_every_config_is_indexed():
    missing = sorted(set(MODEL_CONFIGS) - set(indexed()))
    assert not missing, f'configs missing from the metafiles: {missing}'


@pytest.mark.parametrize('config', sorted(indexed()))
def test_indexed_config_loads(config):
    assert osp.isfile(osp.join(ROOT, config)), config
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert 'model' in cfg
