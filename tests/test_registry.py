"""``type='GhostNetV2'`` builds from mmdet, mmseg and mmpretrain configs once the config's
``custom_imports`` names the package, and ``type='ghostv2_mm.GhostNetV2'`` from any scope."""
import subprocess
import sys
import textwrap

import pytest

BUILD = textwrap.dedent('''
    import sys
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    import importlib
    scope, registry_module, type_name = sys.argv[1:4]
    assert 'ghostv2_mm' not in sys.modules
    cfg = Config.fromstring(
        "custom_imports = dict(imports=['ghostv2_mm'], allow_failed_imports=False)\\n"
        f"backbone = dict(type='{type_name}', widen_factor=1.3, out_indices=(4, 9))\\n", '.py')
    assert 'ghostv2_mm' in sys.modules  # imported by the config's custom_imports
    init_default_scope(scope)
    MODELS = importlib.import_module(registry_module).MODELS
    model = MODELS.build(cfg.backbone)
    print(type(model).__module__, type(model).__name__, model.out_channels)
''')


@pytest.mark.parametrize('scope, registry', [('mmdet', 'mmdet.registry'),
                                             ('mmseg', 'mmseg.registry'),
                                             ('mmpretrain', 'mmpretrain.registry')])
@pytest.mark.parametrize('type_name', ['GhostNetV2', 'ghostv2_mm.GhostNetV2'])
def test_builds_from_downstream_registries(scope, registry, type_name):
    result = subprocess.run([sys.executable, '-c', BUILD, scope, registry, type_name],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(
        'ghostv2_mm.models.backbones.ghostnetv2 GhostNetV2 [52, 1248]'), result.stdout


def test_own_registry_and_dfc_plugin():
    from ghostv2_mm.registry import MODELS
    assert MODELS.scope == 'ghostv2_mm'
    assert MODELS.build(dict(type='GhostNetV2', dfc_layers=())).dfc_layers == ()
    attn = MODELS.build(dict(type='DFCAttention', in_channels=8, out_channels=16))
    assert attn.proj.conv.out_channels == 16
