"""The package is pure Python: an ordinary isolated build gives a py3-none-any wheel holding
every module of the package and nothing compiled."""
import os.path as osp
import subprocess
import sys
import zipfile

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_isolated_build_gives_a_pure_python_wheel(tmp_path):
    result = subprocess.run([sys.executable, '-m', 'pip', 'wheel', ROOT, '--no-deps', '-q',
                             '-w', str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    wheels = list(tmp_path.glob('ghostv2_mm-*.whl'))
    assert len(wheels) == 1 and wheels[0].name.endswith('-py3-none-any.whl'), wheels
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert not [n for n in names if n.endswith(('.so', '.pyd', '.cpp'))]
    for module in ('ghostv2_mm/models/deploy/reparam.py', 'ghostv2_mm/apis.py',
                   'ghostv2_mm/models/layers/dfc_attention.py'):
        assert module in names
