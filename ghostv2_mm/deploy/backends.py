"""ghostv2_mm's OpenVINO, ncnn and LiteRT backends for mmdeploy, which run the deployed files
through :mod:`.runtime` (docs/deployment.md, docs/mobile.md say why each replaces or extends
mmdeploy's), and the tools' :func:`build_task_processor`, which registers them, the rewriters and
the backend models. ``BACKEND_MANAGERS.register('litert')`` adds ``Backend.LITERT``: borrowing a
member (``'tvm'``) would write a wrong backend into ``deploy.json``, and bypassing mmdeploy's
backend models would copy each codebase's ``End2EndModel``.
"""
import importlib.util
import logging
import os.path as osp

import torch
from mmdeploy.backend.base import BACKEND_MANAGERS, BaseBackendManager, BaseWrapper
from mmdeploy.utils.timer import TimeCounter

from ..errors import DeployError
from ..utils import tool_parser
from .runtime import SUFFIXES, RuntimeModel, convert_to_openvino

# This project's transforms that read annotations (ghostv2_mm.datasets).
ANNOTATION_CHECKS = ('CheckSegLabels', )


class RuntimeWrapper(BaseWrapper):
    """Runs a deployed file on the CPU for mmdeploy's backend models
    (:class:`.runtime.RuntimeModel`, at the precision the file records).

    Args:
        path (str): The model file (``end2end.xml``, ``.param`` or ``.tflite``).
        output_names (Sequence[str], optional): Output order; the model's own when None.
    """
    backend = None

    def __init__(self, path, output_names=None):
        self.model = RuntimeModel(path, self.backend)
        # A graph that ends before the detection post-processing: the model finishes it.
        super().__init__(self.model.output_names if self.model.postprocess else
                         output_names or self.model.output_names)

    def forward(self, inputs):
        (tensor, ) = inputs.values()
        outputs = self._execute(tensor.detach().cpu().numpy())
        return {name: torch.from_numpy(outputs[name].copy()) for name in self.output_names}

    def _run(self, x):
        return self.model(x)


# Each subclass times its runs (test.py --speed-test) under a name of its own: TimeCounter names
# are unique, and mmdeploy's own wrappers hold 'openvino' and 'ncnn'.
class OpenVINOWrapper(RuntimeWrapper):
    """:class:`RuntimeWrapper` of an OpenVINO IR (its ``.bin`` beside it)."""
    backend = 'openvino'
    _execute = TimeCounter.count_time('openvino.Core')(RuntimeWrapper._run)


class NCNNWrapper(RuntimeWrapper):
    """:class:`RuntimeWrapper` of an ncnn ``.param`` (its ``.bin`` and sidecar beside it)."""
    backend = 'ncnn'
    _execute = TimeCounter.count_time('ncnn.Net')(RuntimeWrapper._run)


class LiteRTWrapper(RuntimeWrapper):
    """:class:`RuntimeWrapper` of a LiteRT ``.tflite`` file (its sidecar beside it)."""
    backend = 'litert'
    _execute = TimeCounter.count_time('litert.Interpreter')(RuntimeWrapper._run)


class RuntimeManager(BaseBackendManager):
    """mmdeploy's backend manager of a :class:`RuntimeWrapper` (CPU only), whose
    :meth:`to_backend` converts each ONNX file at ``backend_config.precision`` (``'fp32'`` unless
    set) with :meth:`convert`."""
    wrapper = None
    module = None  # the runtime's Python module

    @classmethod
    def build_wrapper(cls, backend_files, device='cpu', input_names=None, output_names=None,
                      deploy_cfg=None, **kwargs):
        if device != 'cpu':
            raise DeployError(f'the {cls.wrapper.backend} backend runs on the CPU, but received '
                              f'device {device!r}')
        return cls.wrapper(backend_files[0], output_names)

    @classmethod
    def is_available(cls, with_custom_ops=False):
        try:
            return importlib.util.find_spec(cls.module) is not None
        except ModuleNotFoundError:  # the parent package of a dotted name is absent
            return False

    @classmethod
    def get_version(cls):
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version(cls.distribution)
        except PackageNotFoundError:
            return 'None'

    @classmethod
    def to_backend(cls, ir_files, work_dir, deploy_cfg, log_level=logging.INFO, device='cpu',
                   calib_inputs=None, **kwargs):
        precision = deploy_cfg.backend_config.get('precision', 'fp32')
        files = []
        for f in ir_files:
            prefix = osp.join(work_dir, osp.splitext(osp.basename(f))[0])
            files += cls.convert(f, prefix, precision, calib_inputs)
        return files

    @staticmethod
    def _name(prefix, precision, suffix):
        """``<prefix>[_<precision>]<suffix>``: a float32 file keeps the IR's name."""
        return prefix + ('' if precision == 'fp32' else f'_{precision}') + suffix


class OpenVINOManager(RuntimeManager):
    """mmdeploy's backend manager for OpenVINO through ``openvino.Core`` (:mod:`.runtime`); the
    IR (``end2end.xml``) records the precision."""
    wrapper, module, distribution = OpenVINOWrapper, 'openvino', 'openvino'

    @staticmethod
    def convert(onnx_file, prefix, precision, calib_inputs):
        return [convert_to_openvino(onnx_file, prefix + '.xml', precision)]


class NCNNManager(RuntimeManager):
    """mmdeploy's backend manager for ncnn through pnnx and ncnn's Python module. Precision
    ``'fp16'`` stores the weights in fp16 (``end2end_fp16.param``/``.bin``), which ncnn then
    computes in fp16 where the CPU can."""
    wrapper, module, distribution = NCNNWrapper, 'ncnn', 'ncnn'

    @classmethod
    def convert(cls, onnx_file, prefix, precision, calib_inputs):
        from .mobile import convert_to_ncnn
        param = convert_to_ncnn(onnx_file, cls._name(prefix, precision, '.param'),
                                fp16=precision == 'fp16')
        return [param, osp.splitext(param)[0] + '.bin']


class LiteRTManager(RuntimeManager):
    """The LiteRT (TFLite) backend: onnx2tf and the ``ai-edge-litert`` interpreter. Precision
    ``'fp32'``, ``'fp16'`` (fp16 weights) or ``'int8'`` (``calib_inputs`` of :meth:`to_backend`:
    (1, 3, H, W) pre-processed training images); files ``end2end[_<precision>].tflite``."""
    wrapper, module, distribution = LiteRTWrapper, 'ai_edge_litert.interpreter', 'ai-edge-litert'

    @classmethod
    def convert(cls, onnx_file, prefix, precision, calib_inputs):
        from .mobile import convert_to_litert
        return [convert_to_litert(onnx_file, cls._name(prefix, precision, '.tflite'), precision,
                                  calib_inputs)]


# mmdeploy backend name -> this package's manager.
MANAGERS = {'openvino': OpenVINOManager, 'ncnn': NCNNManager, 'litert': LiteRTManager}
# Backends whose files ghostv2_mm.deploy.mobile converts from a static ONNX file.
MOBILE_BACKENDS = ('ncnn', 'litert')


def register():
    """Make :data:`MANAGERS` mmdeploy's backends and load :mod:`.rewriters` and
    :mod:`.backend_models` (idempotent)."""
    # mmdeploy's registrations first (its registry imports them again on each look-up, which
    # then does nothing); ours replace them.
    import mmdeploy.backend.ncnn  # noqa: F401
    import mmdeploy.backend.openvino  # noqa: F401
    from mmdeploy.backend.base import get_backend_manager

    from . import backend_models, rewriters  # noqa: F401
    for name, manager in MANAGERS.items():
        if get_backend_manager(name) is not manager:
            BACKEND_MANAGERS.register(name)(manager)


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
    parser = tool_parser(description, 'override model config settings, e.g. data_root=DIR/')
    parser.add_argument('deploy_cfg', help='deploy config (configs/mmdeploy/)')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('--model', nargs='+', required=True, help='deployed model file(s)')
    parser.add_argument('--device', default='cpu', help='device of the models')
    parser.add_argument('--work-dir', default=work_dir, help='where the results are written')
    return parser


def build_test_setup(deploy_cfg, model_cfg, model_files, cfg_options=None, device='cpu',
                     batch_size=1):
    """What evaluating deployed ``model_files`` (``end2end.onnx``, ``.xml``, ``.param`` or
    ``.tflite``) on ``model_cfg``'s test set needs, once the files exist and suit the deploy
    config's backend and the test data is there.

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
