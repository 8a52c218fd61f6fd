import inspect

import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ...checkpoint import check_pretrained
from ...registry import register_model
from ...utils import check_choice, check_keys, check_layer_cfg, make_divisible
from ..deploy import reparameterize
from ..layers import DFCAttention, GhostBottleneck
from ..layers.ghost_module import conv_norm_act


class ConvBnAct(nn.Module):
    """Conv-norm-activation with the attribute names of the official final layer."""

    def __init__(self, in_channels, out_channels, conv_cfg, norm_cfg, act_cfg):
        super().__init__()
        self.conv, self.bn1, self.act1 = conv_norm_act(in_channels, out_channels, 1,
                                                       conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                                       act_cfg=act_cfg)

    def forward(self, x):
        return self.act1(self.bn1(self.conv(x)))


# The DFCAttention arguments ``dfc_cfg`` may set (the others come from the backbone).
DFC_KEYS = tuple(k for k in inspect.signature(DFCAttention).parameters
                 if k not in ('in_channels', 'out_channels', 'dilation', 'conv_cfg', 'norm_cfg'))


@register_model
class GhostNetV2(BaseModule):
    """GhostNetV2 backbone ("GhostNetV2: Enhance Cheap Operation with Long-Range Attention",
    NeurIPS 2022), and GhostNetV1 with ``dfc_layers=()``. Module names follow the official
    implementation, so official and timm ``ghostnetv2_*`` state dicts load as they are. Feature
    ``i`` is the output of ``blocks[i]``; taps, strides and channels: docs/backbone.md.

    Args:
        widen_factor (float): Width multiplier (1.0, 1.3, 1.6 are published). Defaults to 1.0.
        out_indices (Sequence[int]): Indices (0-9) of the returned features.
            Defaults to (2, 4, 6, 9), one tap per stride 4/8/16/32.
        frozen_stages (int): -1 freezes nothing, 0 the stem, ``k`` the stem and ``blocks[:k]``.
            Defaults to -1.
        output_stride (int): 32, 16 or 8; below 32 the last stages run atrous. Defaults to 32.
        dfc_layers (Sequence[int], optional): Flat indices (0-15) of the bottlenecks with DFC
            attention; None: all but the first two (official); ``()``: GhostNetV1.
        dfc_position (str): ``'expansion'``, ``'output'`` or ``'both'`` (Table 8).
            Defaults to ``'expansion'``.
        dfc_cfg (dict, optional): Arguments of :class:`DFCAttention`. Defaults to None.
        dfc_kernel_sizes (Sequence[int], optional): FC length per ``paper_stages`` entry
            (Table 6); overrides ``dfc_cfg['kernel_size']``. Defaults to None (5 everywhere).
        conv_cfg (dict, optional): Config of conv layers. Defaults to None.
        norm_cfg (dict): Config of norm layers. Defaults to ``dict(type='BN')``.
        act_cfg (dict): Activation. Defaults to ``dict(type='ReLU')``.
        norm_eval (bool): Keep norm layers in eval mode while training. Defaults to False.
        with_cp (bool): Gradient checkpointing of every bottleneck. Defaults to False.
        deploy (bool): Build the inference structure (:meth:`switch_to_deploy`), for deploy
            checkpoints. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialization config (``Pretrained`` with
            ``prefix='backbone.'`` loads a classifier's backbone). Defaults to Kaiming convs.
    """

    # One row per bottleneck, one inner list per entry of ``blocks``:
    # kernel size, expanded channels, output channels, SE ratio, stride.
    arch_settings = [
        [[3, 16, 16, 0, 1]],
        [[3, 48, 24, 0, 2]],
        [[3, 72, 24, 0, 1]],
        [[5, 72, 40, 0.25, 2]],
        [[5, 120, 40, 0.25, 1]],
        [[3, 240, 80, 0, 2]],
        [[3, 200, 80, 0, 1],
         [3, 184, 80, 0, 1],
         [3, 184, 80, 0, 1],
         [3, 480, 112, 0.25, 1],
         [3, 672, 112, 0.25, 1]],
        [[5, 672, 160, 0.25, 2]],
        [[5, 960, 160, 0, 1],
         [5, 960, 160, 0.25, 1],
         [5, 960, 160, 0, 1],
         [5, 960, 160, 0.25, 1]],
    ]
    # The paper's stages (Tables 6 and 7) as flat bottleneck indices, by the resolution a
    # bottleneck receives at 224x224 input: 56x56 and 28x28, 14x14, and 7x7.
    paper_stages = (tuple(range(2, 6)), tuple(range(6, 12)), tuple(range(12, 16)))
    stem_channels = 16
    last_channels = 960
    num_layers = sum(len(stage) for stage in arch_settings)
    num_stages = len(arch_settings) + 1
    # Dilation of each entry of ``blocks`` per output stride (the stride-2 entries: 1, 3, 5, 7).
    stage_dilations = {
        32: (1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        16: (1, 1, 1, 1, 1, 1, 1, 2, 2, 2),
        8: (1, 1, 1, 1, 1, 2, 2, 4, 4, 4),
    }

    def __init__(self,
                 widen_factor=1.0,
                 out_indices=(2, 4, 6, 9),
                 frozen_stages=-1,
                 output_stride=32,
                 dfc_layers=None,
                 dfc_position='expansion',
                 dfc_cfg=None,
                 dfc_kernel_sizes=None,
                 conv_cfg=None,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='ReLU'),
                 norm_eval=False,
                 with_cp=False,
                 deploy=False,
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        super().__init__(init_cfg)
        check_keys('dfc_cfg', dfc_cfg, DFC_KEYS)
        check_layer_cfg('conv_cfg', conv_cfg, 'conv')
        check_layer_cfg('norm_cfg', norm_cfg, 'norm', allow_none=False)
        check_layer_cfg('act_cfg', act_cfg, 'act', allow_none=False)
        if isinstance(widen_factor, bool) or not isinstance(widen_factor, (int, float)) \
                or widen_factor <= 0:
            raise ValueError(f'widen_factor must be a positive number, but received '
                             f'{widen_factor!r}')
        if isinstance(out_indices, int) or not all(
                isinstance(i, int) and 0 <= i < self.num_stages for i in out_indices) \
                or len(out_indices) == 0 or list(out_indices) != sorted(set(out_indices)):
            raise ValueError(f'out_indices must be a non-empty, strictly increasing sequence of '
                             f'ints in range(0, {self.num_stages}), but received {out_indices!r}')
        if frozen_stages not in range(-1, self.num_stages + 1):
            raise ValueError(f'frozen_stages must be in range(-1, {self.num_stages + 1}), '
                             f'but received {frozen_stages!r}')
        check_choice('output_stride', output_stride, tuple(self.stage_dilations))
        check_choice('dfc_position', dfc_position, ('expansion', 'output', 'both'))
        if dfc_layers is None:
            dfc_layers = range(2, self.num_layers)
        if not all(isinstance(i, int) and 0 <= i < self.num_layers for i in dfc_layers):
            raise ValueError(f'dfc_layers must be ints in range(0, {self.num_layers}), '
                             f'but received {dfc_layers!r}')
        if dfc_kernel_sizes is not None and (
                len(dfc_kernel_sizes) != len(self.paper_stages) or not all(
                    isinstance(k, int) and k > 0 and k % 2 for k in dfc_kernel_sizes)):
            raise ValueError(f'dfc_kernel_sizes must be {len(self.paper_stages)} positive odd ints '
                             f'(one per stage), but received {dfc_kernel_sizes!r}')
        layer_dfc_cfgs = [dict(dfc_cfg or {})] * self.num_layers
        for stage, k in zip(self.paper_stages, dfc_kernel_sizes or ()):
            for i in stage:
                layer_dfc_cfgs[i] = dict(layer_dfc_cfgs[i], kernel_size=k)

        self.widen_factor = widen_factor
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.output_stride = output_stride
        self.dfc_layers = tuple(sorted(set(dfc_layers)))
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.deploy = False

        channels = make_divisible(self.stem_channels * widen_factor, 4)
        self.conv_stem, self.bn1, self.act1 = conv_norm_act(
            3, channels, 3, 2, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        stages, self.stage_channels, self.stage_strides = [], [], []
        layer_id, total_stride = 0, 2
        for stage, dilation in zip(self.arch_settings, self.stage_dilations[output_stride]):
            if dilation == 1:  # an atrous stage keeps the stride it starts at
                total_stride *= stage[0][4]
            layers = []
            for k, exp, c, se_ratio, stride in stage:
                out_channels = make_divisible(c * widen_factor, 4)
                layers.append(GhostBottleneck(
                    channels, make_divisible(exp * widen_factor, 4), out_channels,
                    dw_kernel_size=k, stride=stride, dilation=dilation, se_ratio=se_ratio,
                    dfc_position=dfc_position if layer_id in self.dfc_layers else None,
                    dfc_cfg=layer_dfc_cfgs[layer_id], conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                    act_cfg=act_cfg, with_cp=with_cp))
                channels = out_channels
                layer_id += 1
            stages.append(nn.Sequential(*layers))
            self.stage_channels.append(channels)
            self.stage_strides.append(total_stride)
        last = make_divisible(self.last_channels * widen_factor, 4)
        stages.append(nn.Sequential(ConvBnAct(channels, last, conv_cfg, norm_cfg, act_cfg)))
        self.stage_channels.append(last)
        self.stage_strides.append(total_stride)
        self.blocks = nn.Sequential(*stages)
        self.out_channels = [self.stage_channels[i] for i in self.out_indices]
        self.out_strides = [self.stage_strides[i] for i in self.out_indices]
        if deploy:
            self.switch_to_deploy()

    def forward(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        outs = []
        # Stages after the last requested tap are not run.
        for i, stage in enumerate(self.blocks[:max(self.out_indices) + 1]):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def init_weights(self):
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            if self.deploy:
                raise ValueError('GhostNetV2(deploy=True) takes deploy checkpoints '
                                 '(tools/model_converters/reparameterize_model.py) through '
                                 'load_from or load_checkpoint, not init_cfg Pretrained (set '
                                 'model.backbone.init_cfg=None)')
            check_pretrained(self, cfg['checkpoint'], cfg.get('prefix'))
        super().init_weights()

    def _freeze_stages(self):
        if self.frozen_stages < 0:
            return
        for module in [self.conv_stem, self.bn1, *self.blocks[:self.frozen_stages]]:
            module.eval()
            module.requires_grad_(False)

    def switch_to_deploy(self):
        """Convert in place into the inference structure (:mod:`..deploy`: BN folded, each DFC
        attention a ``DeployDFCAttention``), exact in eval mode and inference-only; returns self."""
        if not self.deploy:
            reparameterize(self)
            self.deploy = True
        return self

    def train(self, mode=True):
        if mode and self.deploy:
            raise RuntimeError('GhostNetV2 was switched to deploy mode (BN folded into convs) '
                               'and is inference-only; build a new model to train')
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
