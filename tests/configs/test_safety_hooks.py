"""The safety hooks (docs/faults.md) live in one fragment, configs/_base_/runtime/safety_hooks.py:
every config that sits on a library's base lists it in `_base_`, every config below those inherits
it, and every merged config has its hooks and the atomic checkpoint hook."""
import ast
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FRAGMENT = osp.join(ROOT, 'configs', '_base_', 'runtime', 'safety_hooks.py')
MODEL_CONFIGS = sorted(
    p for lib in ('mmpretrain', 'mmdet', 'mmseg')
    for p in glob.glob(osp.join(ROOT, 'configs', lib, '**', '*.py'), recursive=True))
HOOK_TYPES = ('StepSeedHook', 'InvalidLossHook', 'ClassesCheckHook')


def bases(config):
    """The `_base_` entries of a config file, read as mmengine reads them."""
    with open(config) as f:
        for node in ast.parse(f.read()).body:
            if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == '_base_'):
                value = ast.literal_eval(node.value)
                return [value] if isinstance(value, str) else list(value)
    return []


def read_fragments(config):
    """Files a config reads in its body with ``Config.fromfile('{{ fileDirname }}/...')``: how a
    config whose library base sets ``custom_hooks`` (mmdet's SSDLite, RTMDet) takes the fragment's
    hooks, as mmengine allows a key in only one of a config's bases."""
    with open(config) as f:
        paths = re.findall(r"\{\{ ?fileDirname ?\}\}/([^'\"]+)", f.read())
    return [osp.normpath(osp.join(osp.dirname(config), p)) for p in paths]


def local_bases(config):
    return [osp.normpath(osp.join(osp.dirname(config), b)) for b in bases(config)
            if '::' not in b] + read_fragments(config)


def ancestors(config):
    found = []
    for base in local_bases(config):
        found += [base] + ancestors(base)
    return found


# The configs on a library's own config (mmdet::, mmseg::, mmpretrain::): the ones that train a
# recipe; every other model config inherits one of them.
ROOTS = [c for c in MODEL_CONFIGS if any('::' in b for b in bases(c))]


def test_roots_found():
    assert len(ROOTS) >= 8, ROOTS
    for lib in ('mmpretrain', 'mmdet', 'mmseg'):
        assert any(f'{osp.sep}{lib}{osp.sep}' in c for c in ROOTS), lib


@pytest.mark.parametrize('config', ROOTS, ids=lambda p: osp.relpath(p, ROOT))
def test_root_config_lists_the_fragment(config):
    assert FRAGMENT in local_bases(config)


@pytest.mark.parametrize('config', MODEL_CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_inherits_the_fragment_and_has_its_hooks(config):
    assert FRAGMENT in ancestors(config)
    cfg = Config.fromfile(config)
    fragment_hooks = Config.fromfile(FRAGMENT).custom_hooks
    assert [h['type'] for h in fragment_hooks] == list(HOOK_TYPES)
    hooks = [dict(h) for h in cfg.custom_hooks]
    # The fragment's hooks, in order, after any hooks of the config's own (EMA).
    assert hooks[len(hooks) - len(fragment_hooks):] == [dict(h) for h in fragment_hooks]
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'
    imports = cfg.custom_imports['imports']
    assert 'ghostv2_mm' in imports or 'ghostv2_mm.engine' in imports


def test_no_config_repeats_the_hooks():
    copies = []
    for config in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True):
        if osp.normpath(config) == FRAGMENT:
            continue
        with open(config) as f:
            text = f.read()
        copies += [f'{osp.relpath(config, ROOT)}: {t}' for t in HOOK_TYPES if t in text]
    assert not copies, copies
