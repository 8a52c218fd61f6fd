"""What the tools and tests share: building models from configs, the command-line options and
config handling of tools/train.py and tools/test.py, data checks, CPU-only distributed runs and
the run records mmengine writes (as ``mmpretrain.apis`` serves mmpretrain's tools)."""
import importlib
import json
import os
import os.path as osp


def build_model(config, cfg_options=None):
    """Build the model of an mmpretrain/mmdet/mmseg config with ``cfg_options`` (a dict of dotted
    keys, as ``--cfg-options``) merged in, in the config's ``default_scope``. The scope is set
    only while building, so callers' own scopes are left as they were.

    Args:
        config (str | Config): Config file or object.
        cfg_options (dict, optional): Overrides. Defaults to None.

    Returns:
        nn.Module: The model (random weights unless its ``init_weights`` is called).
    """
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
    cfg.merge_from_dict(cfg_options or {})
    scope = cfg.get('default_scope', 'mmengine')
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner does (mmpretrain configs)
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(model_cfg)


def init_model(config, checkpoint=None, cfg_options=None, deploy=False):
    """A model of ``config`` in eval mode with the weights of ``checkpoint``.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Weights to load; None keeps random weights. A deploy
            checkpoint (``tools/model_converters/reparameterize_model.py``) needs ``deploy``.
        cfg_options (dict, optional): Config overrides. Defaults to None.
        deploy (bool): Build the backbone's inference structure
            (``model.backbone.deploy=True``). Defaults to False.

    Returns:
        nn.Module: The model.
    """
    from mmengine.runner import load_checkpoint
    options = dict(cfg_options or {})
    # Weights come from ``checkpoint``; a Pretrained init_cfg would look for its own file.
    options.setdefault('model.backbone.init_cfg', None)
    if deploy:
        options['model.backbone.deploy'] = True
    model = build_model(config, options)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return model.eval()


def add_common_args(parser):
    """The options tools/train.py and tools/test.py share."""
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_epochs=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args):
    """Config of ``args.config`` with the launcher, ``--cfg-options`` and work dir applied."""
    from mmengine.config import Config
    from mmengine.device import is_cuda_available
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if cfg.launcher != 'none' and not is_cuda_available():
        _use_cpu_distributed(cfg)
    return cfg


def check_data(cfg, loaders):
    """Fail early, naming the path, when a dataset's ``data_root``, annotation file or image /
    label folder does not exist (the libraries otherwise fail deep inside a dataloader)."""
    for loader in loaders:
        if cfg.get(loader) is None:
            continue
        dataset = cfg[loader]['dataset']
        while 'dataset' in dataset:  # RepeatDataset, ClassBalancedDataset, ...
            dataset = dataset['dataset']
        root = dataset.get('data_root') or ''
        if root and not osp.isdir(root):
            raise SystemExit(f'{loader}: data_root {root} does not exist')
        paths = []
        if dataset.get('ann_file'):
            paths.append(dataset['ann_file'])
        prefix = dataset.get('data_prefix') or {}
        paths += [prefix] if isinstance(prefix, str) else [p for p in prefix.values() if p]
        for path in paths:
            full = osp.join(root, path)
            if not osp.exists(full):
                raise SystemExit(f'{loader}: {full} does not exist (data_root={root!r})')


def _use_cpu_distributed(cfg):
    """mmengine's launcher binds a CUDA device and DDP gets ``device_ids``; on a CPU-only machine
    start the process group with gloo here (the Runner then keeps it) and wrap without devices."""
    import torch
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    # SyncBN needs a GPU; plain BN is the CPU equivalent.
    cfg.model = _replace_syncbn(cfg.model)
    torch.set_num_threads(max(1, torch.get_num_threads() // dist.get_world_size()))


def _replace_syncbn(node):
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node = dict(node, type='BN')
        return type(node)({k: _replace_syncbn(v) for k, v in node.items()})
    if isinstance(node, (list, tuple)):
        return type(node)(_replace_syncbn(v) for v in node)
    return node


def run_records(work_dir):
    """All logged records of the newest run in ``work_dir``: ``vis_data/scalars.json`` of a
    training run, ``<timestamp>.json`` of a test run (which has no scalars file)."""
    # mmengine names a run's folder by its timestamp and writes <timestamp>.log in it, or only
    # <timestamp>.json when the log goes elsewhere (mmdeploy's test runner).
    runs = sorted(d for d in os.listdir(work_dir)
                  if any(osp.exists(osp.join(work_dir, d, f'{d}.{ext}')) for ext in ('log', 'json')))
    if not runs:
        raise RuntimeError(f'no run logs in {work_dir}')
    run = osp.join(work_dir, runs[-1])
    path = osp.join(run, 'vis_data', 'scalars.json')
    if not osp.exists(path):
        path = osp.join(run, f'{runs[-1]}.json')
    with open(path) as f:
        return [json.loads(line) for line in f]


def last_metric(work_dir, key):
    """The last ``key`` value logged by the newest run (training or test) in ``work_dir``."""
    values = [r[key] for r in run_records(work_dir) if key in r]
    if not values:
        raise RuntimeError(f'no {key} in the newest run of {work_dir}')
    return values[-1]


def reparameterize_checkpoint(config, checkpoint, out, cfg_options=None, check_shape=None):
    """Write the deploy checkpoint of a trained one: the model of ``config`` with the weights of
    ``checkpoint``, its backbone switched to its inference structure (``switch_to_deploy``).
    The file loads into ``config`` with ``model.backbone.deploy=True``.

    Args:
        config (str | Config): The model's config.
        checkpoint (str): The trained checkpoint.
        out (str): The deploy checkpoint to write.
        cfg_options (dict, optional): Config overrides. Defaults to None.
        check_shape (tuple[int, int], optional): (H, W) of a random input on which the written
            checkpoint, loaded into a ``deploy=True`` model, is compared with the trained model.
            Defaults to None (no comparison).

    Returns:
        float | None: The largest absolute output difference of that comparison, relative to
        the largest output magnitude.
    """
    import torch

    from .engine.atomic import atomic_torch_save
    model = init_model(config, checkpoint, cfg_options)
    if not hasattr(model.backbone, 'switch_to_deploy'):
        raise ValueError(f'the backbone of {config} ({type(model.backbone).__name__}) has no '
                         'inference structure (switch_to_deploy)')
    reference = init_model(config, checkpoint, cfg_options) if check_shape else None
    model.backbone.switch_to_deploy(channels_last=False)
    meta = dict(deploy=True, source=osp.abspath(checkpoint))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    atomic_torch_save(dict(state_dict=model.state_dict(), meta=meta), out)
    if reference is None:
        return None
    deployed = init_model(config, out, cfg_options, deploy=True)
    x = torch.randn(1, 3, *check_shape)
    with torch.no_grad():
        expected, actual = (_flatten(m(x, mode='tensor')) for m in (reference, deployed))
    scale = max(float(e.abs().max()) for e in expected)
    diff = max(float((a - e).abs().max()) for a, e in zip(actual, expected))
    return diff / max(scale, 1.)


def _flatten(outputs):
    if isinstance(outputs, (tuple, list)):
        return [t for o in outputs for t in _flatten(o)]
    if isinstance(outputs, dict):
        return [t for o in outputs.values() for t in _flatten(o)]
    return [outputs]
