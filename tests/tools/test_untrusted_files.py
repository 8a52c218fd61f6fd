"""Checkpoints run no code: a pickle whose object calls ``os.system`` on load is refused, with one
line naming the file and the global, by the loader and by every entry point that reads a
checkpoint; what the package writes and mmengine training checkpoints still load; the opt-in
loads a trusted file; ``.safetensors`` files are accepted."""
import os
import os.path as osp
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

from ghostv2_mm.checkpoint import TRUST_ENV, load_checkpoint_file
from ghostv2_mm.errors import CheckpointError
from tests.tools.helpers import run_tool

CLS = 'configs/mmpretrain/ghostnetv2_1.0x_shapes.py'
DET = 'configs/mmdet/yolov3_ghostv2_320_shapes.py'


class Touch:
    """Unpickling this creates the file ``path`` (by ``os.system``)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f'touch {self.path}', )


@pytest.fixture
def marker(tmp_path):
    return tmp_path / 'PWNED'


@pytest.fixture
def evil(tmp_path, marker):
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict=OrderedDict(w=torch.zeros(1)), meta=Touch(marker)), path)
    return str(path)


def assert_refused(message, path, marker):
    assert f'checkpoint {path} refused: loading it would call posix.system' in message
    assert TRUST_ENV in message
    assert not marker.exists()


@pytest.mark.parametrize('kind', ['zip', 'legacy', 'pickle'])
def test_loader_refuses_code_and_opt_in_runs_it(tmp_path, marker, kind):
    path = str(tmp_path / 'evil.pkl')
    if kind == 'pickle':  # pickle.dump, no torch format
        with open(path, 'wb') as f:
            pickle.dump(dict(w=1.0, x=Touch(marker)), f)
    else:  # torch.save's zip format, or its format before PyTorch 1.6
        torch.save(dict(w=torch.zeros(1), x=Touch(marker)), path,
                   _use_new_zipfile_serialization=kind == 'zip')
    with pytest.raises(CheckpointError) as error:
        load_checkpoint_file(path)
    assert_refused(str(error.value), path, marker)
    os.environ[TRUST_ENV] = '1'
    try:
        load_checkpoint_file(path)
    except CheckpointError:  # a bare pickle runs its code, then is no torch file
        assert kind == 'pickle'
    finally:
        del os.environ[TRUST_ENV]
    assert marker.exists()  # the file really runs code when trusted


def test_mmengine_loaders_refuse(evil, marker):
    from mmengine.model import BaseModule
    from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint

    import ghostv2_mm  # noqa: F401  makes mmengine's loader of local files the package's
    with pytest.raises(CheckpointError, match='posix.system'):
        _load_checkpoint(evil)
    model = torch.nn.Linear(1, 1)
    with pytest.raises(CheckpointError, match='posix.system'):
        load_checkpoint(model, evil)

    class Net(BaseModule):
        def __init__(self):
            super().__init__(init_cfg=dict(type='Pretrained', checkpoint=evil))
            self.fc = torch.nn.Linear(1, 1)

    with pytest.raises(CheckpointError, match='posix.system'):
        Net().init_weights()
    assert not marker.exists()


def test_training_state_loads(tmp_path):
    """What mmengine's checkpoints hold beside tensors: numpy arrays and scalars, message_hub's
    HistoryBuffers (with their statistics methods)."""
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub('untrusted-test')
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
    hub.update_info('eta', np.float64(3.5))
    checkpoint = dict(state_dict=OrderedDict(w=torch.ones(2)), message_hub=hub.state_dict(),
                      meta=dict(seed=0, numpy_state=np.random.RandomState(0).get_state()),
                      optimizer=dict(state={0: dict(momentum_buffer=torch.zeros(2))}))
    path = tmp_path / 'train.pth'
    torch.save(checkpoint, path)
    loaded = load_checkpoint_file(str(path))
    history = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(history, HistoryBuffer)
    assert history.mean() == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert loaded['message_hub']['runtime_info']['eta'] == 3.5
    assert np.array_equal(loaded['meta']['numpy_state'][1],
                          np.random.RandomState(0).get_state()[1])


def test_getattr_is_limited_to_history_statistics(tmp_path, marker):
    class Attr:
        def __reduce__(self):
            return getattr, (np.ndarray, 'tofile')

    path = tmp_path / 'attr.pth'
    torch.save(dict(w=torch.zeros(1), m=np.zeros(2), x=Attr()), path)
    with pytest.raises(CheckpointError, match=r"would call getattr\(ndarray, 'tofile'\)"):
        load_checkpoint_file(str(path))


def test_safetensors_are_accepted(tmp_path):
    timm = pytest.importorskip('timm', reason='timm is installed by the "tests" extra')
    from safetensors.torch import save_file

    from ghostv2_mm.checkpoint import convert_to_mmpretrain
    state = timm.create_model('ghostnetv2_100').state_dict()
    path = tmp_path / 'model.safetensors'
    save_file(state, str(path))
    converted = convert_to_mmpretrain(load_checkpoint_file(str(path)))['state_dict']
    assert converted.keys() == convert_to_mmpretrain(state)['state_dict'].keys()
    run_tool('tools/model_converters/ghostnetv2_to_mmpretrain.py', str(path),
             str(tmp_path / 'out.pth'))

    from ghostv2_mm import GhostNetV2
    backbone = GhostNetV2(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    backbone.init_weights()
    assert torch.equal(backbone.conv_stem.weight, state['conv_stem.weight'])


def test_official_profiler_keys_are_dropped():
    timm = pytest.importorskip('timm', reason='timm is installed by the "tests" extra')
    from ghostv2_mm.checkpoint import convert_to_mmpretrain
    state = timm.create_model('ghostnetv2_100').state_dict()
    plain = convert_to_mmpretrain(state)['state_dict']
    state.update({'total_ops': torch.zeros(1), 'total_params': torch.zeros(1),
                  'blocks.0.0.total_ops': torch.zeros(1)})
    assert convert_to_mmpretrain(state)['state_dict'].keys() == plain.keys()


def data_options(root):
    return [f'{loader}.dataset.data_root={root}/'
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


def identity_onnx(folder):
    """An ONNX file parity.py can open (it builds the deployed model before the PyTorch one)."""
    import onnx
    from onnx import TensorProto, helper
    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, 'identity.onnx')
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 64, 64])
            for n in ('input', 'output')]
    graph = helper.make_graph([helper.make_node('Identity', ['input'], ['output'])], 'g',
                              info[:1], info[1:])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 11)]), path)
    return path


ENTRY_POINTS = {
    'converter': lambda e, t, d: ['tools/model_converters/ghostnetv2_to_mmpretrain.py', e,
                                  f'{t}/out.pth'],
    'reparameterize': lambda e, t, d: ['tools/model_converters/reparameterize_model.py', CLS,
                                       e, f'{t}/out.pth'],
    'test': lambda e, t, d: ['tools/test.py', CLS, e, '--work-dir', t, '--cfg-options',
                             *data_options(d)],
    'load_from': lambda e, t, d: ['tools/train.py', CLS, '--work-dir', t, '--cfg-options',
                                  f'load_from={e}', *data_options(d)],
    'resume': lambda e, t, d: ['tools/train.py', CLS, '--resume', e, '--work-dir', t,
                               '--cfg-options', *data_options(d)],
    'init_cfg Pretrained': lambda e, t, d: [
        'tools/train.py', DET, '--work-dir', t, '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={e}', f'data_root={d}/',
        f'train_dataloader.dataset.dataset.data_root={d}/',
        f'val_dataloader.dataset.data_root={d}/', f'test_dataloader.dataset.data_root={d}/',
        f'val_evaluator.ann_file={d}/annotations/instances_val.json'],
    'deploy': lambda e, t, d: ['tools/deployment/deploy.py',
                               'configs/mmdeploy/classification_onnxruntime_static.py', CLS, e,
                               f'{d}/val/star/00000.JPEG', '--work-dir', t],
    'parity': lambda e, t, d: ['tools/deployment/parity.py',
                               'configs/mmdeploy/classification_onnxruntime_static.py', CLS, e,
                               '--model', identity_onnx(t), '--cfg-options',
                               *data_options(d)],
    'benchmark': lambda e, t, d: ['tools/deployment/benchmark.py', CLS, e, '--backends',
                                  'onnxruntime', '--precisions', 'fp32', '--work-dir', t,
                                  '--cfg-options', *data_options(d)],
    'export_onnx': lambda e, t, d: ['tools/deployment/export_onnx.py', CLS, '--checkpoint', e,
                                    '--out', f'{t}/out.onnx'],
    'visualize_dfc': lambda e, t, d: ['tools/analysis/visualize_dfc.py', CLS, e,
                                      f'{d}/val/star/00000.JPEG', '--out-dir', t],
}


@pytest.mark.parametrize('entry', list(ENTRY_POINTS))
def test_entry_points_refuse_in_one_line(entry, evil, marker, tmp_path, tiny_cls, tiny_det):
    data = tiny_det if entry == 'init_cfg Pretrained' else tiny_cls
    args = ENTRY_POINTS[entry](evil, str(tmp_path / 'work'), data)
    result = run_tool(*args, check=False, timeout=300)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 or 'Traceback' not in result.stderr, result.stderr[-3000:]
    assert_refused(lines[-1], evil, marker)
