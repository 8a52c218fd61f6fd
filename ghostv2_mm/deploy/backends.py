"""ghostv2_mm's additions to mmdeploy: an OpenVINO backend through OpenVINO's own API registered as
mmdeploy's ``'openvino'`` backend, the graph rewriters of :mod:`.rewriters` and the backend models
of :mod:`.backend_models`.

mmdeploy 1.3.1's OpenVINO backend imports ``openvino.inference_engine``, which OpenVINO no
longer has. OpenVINO reads mmdeploy's end-to-end ONNX directly (NMS included): this backend
converts it into an IR recording the deployment's inference precision and runs it
(:mod:`.runtime`). The tools call :func:`build_task_processor` instead of mmdeploy's; everything
after it is mmdeploy's own.
"""
import logging
import os.path as osp

import torch
from mmdeploy.backend.base import BACKEND_MANAGERS, BaseBackendManager, BaseWrapper
from mmdeploy.utils.timer import TimeCounter

from ..errors import DeployError
from .runtime import SUFFIXES, RuntimeModel, convert_to_openvino

# This project's transforms that read annotations (ghostv2_mm.datasets).
ANNOTATION_CHECKS = ('CheckSegLabels', )


class OpenVINOWrapper(BaseWrapper):
    """Runs an OpenVINO IR on the CPU for mmdeploy's backend models, at the inference precision
    the IR records (:class:`.runtime.RuntimeModel`).

    Args:
        xml_file (str): The IR (``end2end.xml``; its ``.bin`` beside it).
        output_names (Sequence[str], optional): Output order; the model's own when None.
    """

    def __init__(self, xml_file, output_names=None):
        self.model = RuntimeModel(xml_file, 'openvino')
        super().__init__(output_names or self.model.output_names)

    def forward(self, inputs):
        (tensor, ) = inputs.values()
        outputs = self._execute(tensor.detach().cpu().numpy())
        return {name: torch.from_numpy(outputs[name].copy()) for name in self.output_names}

    # TimeCounter names are unique and mmdeploy's OpenVINO wrapper holds 'openvino'.
    @TimeCounter.count_time('openvino.Core')
    def _execute(self, x):
        return self.model(x)


class OpenVINOManager(BaseBackendManager):
    """mmdeploy's backend manager for OpenVINO through ``openvino.Core`` (:mod:`.runtime`).
    The precision comes from ``backend_config.precision`` (``'fp32'`` unless set)."""

    @classmethod
    def build_wrapper(cls, backend_files, device='cpu', input_names=None, output_names=None,
                      deploy_cfg=None, **kwargs):
        if device != 'cpu':
            raise DeployError(f'the OpenVINO backend runs on the CPU, but received device '
                              f'{device!r}')
        return OpenVINOWrapper(backend_files[0], output_names)

    @classmethod
    def is_available(cls, with_custom_ops=False):
        import importlib.util
        return importlib.util.find_spec('openvino') is not None

    @classmethod
    def get_version(cls):
        import openvino
        return openvino.__version__

    @classmethod
    def to_backend(cls, ir_files, work_dir, deploy_cfg, log_level=logging.INFO, device='cpu',
                   **kwargs):
        precision = deploy_cfg.backend_config.get('precision', 'fp32')
        return [convert_to_openvino(f, osp.join(work_dir, osp.splitext(osp.basename(f))[0] +
                                                '.xml'), precision) for f in ir_files]


def register():
    """Make :class:`OpenVINOManager` mmdeploy's ``'openvino'`` backend and load
    :mod:`.rewriters` and :mod:`.backend_models` (idempotent)."""
    import mmdeploy.backend.openvino  # noqa: F401  mmdeploy's registration first; ours replaces it
    from mmdeploy.backend.base import get_backend_manager

    from . import backend_models, rewriters  # noqa: F401
    if get_backend_manager('openvino') is not OpenVINOManager:
        BACKEND_MANAGERS.register('openvino')(OpenVINOManager)


def build_task_processor(model_cfg, deploy_cfg, device='cpu'):
    """mmdeploy's task processor for ``model_cfg`` and ``deploy_cfg`` (files or Configs), with
    :func:`register` done first.

    Returns:
        tuple[BaseTask, Config, Config]: The processor and the loaded deploy and model configs.
    """
    from mmdeploy.apis import build_task_processor as build
    from mmdeploy.utils import load_config
    register()
    deploy_cfg, model_cfg = load_config(deploy_cfg, model_cfg)
    # mmdeploy runs ``test_pipeline`` on images without labels (it drops LoadAnnotations);
    # CheckSegLabels checks the labels, so it goes too. Evaluation uses the dataloaders' own.
    # mmdeploy's mmpretrain task pre-processes with the config's top-level data_preprocessor,
    # which the model's own (``model.data_preprocessor``) replaces when both are given.
    if model_cfg.model.get('data_preprocessor') is not None:
        model_cfg.data_preprocessor = model_cfg.model.data_preprocessor
    if 'test_pipeline' in model_cfg:
        model_cfg.test_pipeline = [t for t in model_cfg.test_pipeline
                                   if t['type'].split('.')[-1] not in ANNOTATION_CHECKS]
    return build(model_cfg, deploy_cfg, device), deploy_cfg, model_cfg


def check_files(files):
    """Raise ``DeployError`` naming the argument of the first of ``files`` ((argument, path)
    pairs) whose path is not a file."""
    for argument, path in files:
        if not osp.isfile(path):
            raise DeployError(f'{argument} {path} does not exist')


def evaluation_parser(description, work_dir):
    """The command line ``tools/deployment/test.py`` and ``parity.py`` share (DEPLOY_CFG,
    MODEL_CFG, ``--model``, ``--device``, ``--work-dir`` defaulting to ``work_dir``,
    ``--cfg-options``); each tool adds its own arguments."""
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('deploy_cfg', help='deploy config (configs/mmdeploy/)')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('--model', nargs='+', required=True, help='deployed model file(s)')
    parser.add_argument('--device', default='cpu', help='device of the models')
    parser.add_argument('--work-dir', default=work_dir, help='where the results are written')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override model config settings, e.g. data_root=DIR/')
    return parser


def build_test_setup(deploy_cfg, model_cfg, model_files, cfg_options=None, device='cpu',
                     batch_size=1):
    """What evaluating deployed ``model_files`` on ``model_cfg``'s test set needs, checked first:
    the files exist and suit the deploy config's backend, and the test data is there.

    Args:
        deploy_cfg (str): Deploy config file (``configs/mmdeploy/``).
        model_cfg (str): Model config file.
        model_files (list[str]): The deployed model (``end2end.onnx`` / ``end2end.xml``).
        cfg_options (dict, optional): Overrides of the model config. Defaults to None.
        device (str): Device of the backend. Defaults to ``'cpu'``.
        batch_size (int): Test batch size. Defaults to 1.

    Returns:
        tuple: The task processor, the model config (as the processor loaded it), the backend's
        name, the test dataloader (the deployment's pre-processing) and the backend model.
    """
    from copy import deepcopy

    from mmdeploy.utils import get_backend
    from mmengine.config import Config

    from ..engine.runner_setup import check_data
    check_files([('DEPLOY_CFG', deploy_cfg), ('MODEL_CFG', model_cfg),
                 *(('--model', path) for path in model_files)])
    cfg = Config.fromfile(model_cfg)
    cfg.merge_from_dict(cfg_options or {})
    check_data(cfg, ['test_dataloader'])
    processor, deploy, cfg = build_task_processor(cfg, deploy_cfg, device)
    backend = get_backend(deploy).value
    expected = SUFFIXES.get(backend)
    if expected and not model_files[0].endswith(expected):
        raise DeployError(f'--model {model_files[0]}: the {backend} backend of DEPLOY_CFG takes '
                          f'a {expected} file')
    loader = deepcopy(cfg.test_dataloader)
    loader['batch_size'] = batch_size
    loader['dataset'] = processor.build_dataset(loader['dataset'])
    dataloader = processor.build_dataloader(loader)
    model = processor.build_backend_model(
        model_files, data_preprocessor_updater=processor.update_data_preprocessor)
    return processor, cfg, backend, dataloader, model
