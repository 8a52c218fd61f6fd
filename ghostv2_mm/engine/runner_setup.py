"""The start of a run that tools/train.py and tools/test.py share: their common command-line
options, the config with them applied, data checks, and distributed runs on CPU-only machines."""
import os
import os.path as osp

from ..errors import DataError
from ..utils import innermost_dataset


def add_common_args(parser):
    """The options tools/train.py and tools/test.py share."""
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_epochs=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='load checkpoints with plain torch.load, which runs code a file '
                        'names (only for files you trust; ghostv2_mm.checkpoint)')


def load_config(args):
    """Config of ``args.config`` with the launcher, ``--cfg-options`` and work dir applied."""
    from mmengine.config import Config
    from mmengine.device import is_cuda_available
    if args.trust_checkpoint:
        from ..checkpoint import TRUST_ENV
        os.environ[TRUST_ENV] = '1'
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
    """Raise ``DataError`` naming the path when a dataset's ``data_root``, annotation file or
    image / label folder does not exist (the libraries fail deep inside a dataloader), or
    :func:`~ghostv2_mm.datasets.checks.check_annotations` finds bad annotations."""
    from ..datasets.checks import check_annotations
    for loader in loaders:
        if cfg.get(loader) is None:
            continue
        dataset = innermost_dataset(cfg[loader]['dataset'])
        root = dataset.get('data_root') or ''
        if root and not osp.isdir(root):
            raise DataError(f'{loader}: data_root {root} does not exist')
        prefix = dataset.get('data_prefix') or {}
        prefixes = [prefix] if isinstance(prefix, str) else prefix.values()
        for path in filter(None, [dataset.get('ann_file'), *prefixes]):
            full = osp.join(root, path)
            if not osp.exists(full):
                raise DataError(f'{loader}: {full} does not exist (data_root={root!r})')
        check_annotations(cfg, dataset, loader)


def _use_cpu_distributed(cfg):
    """On a CPU-only machine, start the process group with gloo here (the Runner keeps it; its
    launcher would bind a CUDA device) and wrap DDP without ``device_ids``. A collective waiting
    longer than ``env_cfg.dist_cfg.timeout`` seconds (default 1800) fails instead of hanging."""
    from datetime import timedelta

    import torch
    import torch.distributed as dist
    if not dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout', 1800)
        dist.init_process_group(backend='gloo', timeout=timedelta(seconds=timeout))
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
