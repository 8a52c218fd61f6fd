"""Exact rewrites of GhostNetV2's layers, measured in the runtimes (docs/performance.md; five
of them are kept): each experiment checks that the rewrite gives the same result and prints both
timings.

    python tools/analysis/rewrite_experiments.py ghost-concat [--threads 2] [--runs 200]
    python tools/analysis/rewrite_experiments.py train-gate [--threads 2] [--runs 20]
    python tools/analysis/rewrite_experiments.py train-fc [--threads 2] [--runs 20]
    python tools/analysis/rewrite_experiments.py static-export [--threads 2] [--runs 100]
    python tools/analysis/rewrite_experiments.py pad-channels [--threads 2] [--runs 30]
    python tools/analysis/rewrite_experiments.py gate-broadcast [--threads 2] [--runs 30]
    python tools/analysis/rewrite_experiments.py blocked-gates [--threads 2] [--runs 30]
    python tools/analysis/rewrite_experiments.py ghost-dup [--threads 2] [--runs 30]
    python tools/analysis/rewrite_experiments.py int8-structure [--threads 2] [--runs 30]

- ``ghost-concat``: a Ghost module without ``Concat``. The primary 1x1 conv (+ReLU) feeds one
  grouped conv with two outputs per group, an identity tap and the cheap depthwise kernel (ReLU is
  idempotent, so the identity output is unchanged), which gives the concatenation's channels
  interleaved; the next 1x1 conv reads them through permuted input channels. Exported to ONNX and
  timed (batch 1) in ONNX Runtime fp32 and OpenVINO fp32/bf16 against primary conv, depthwise
  conv, ``Concat`` and next conv, at six shapes of GhostNetV2 1.0x at 224.
- ``train-gate``: the DFC gate's nearest 2x up-sampling and multiply (``F.interpolate``) against a
  6-D broadcast view that never materialises the up-sampled map, and against the up-sampled map
  made as an expanded view copied into place (backward: PyTorch's ``upsample_nearest2d``
  backward, so the gradients are bit-identical), forward + backward, batch 32.
- ``train-fc``: the DFC horizontal and vertical FCs as depthwise (1, 5) and (5, 1) convs against
  five shifted multiply-adds each, forward + backward, batch 32.
- ``static-export`` (kept: ``export_onnx.py --static``, the benchmark's files): the GhostNetV2
  1.0x classifier (inference structure, 224) exported with dynamic sizes and with a static input,
  timed in ONNX Runtime interleaved (blocks of five calls, 100 rounds).
- ``pad-channels`` (kept for ONNX Runtime: ``GhostNetV2(pad_channels=16)``, written by the ONNX
  Runtime deployments and ``export_onnx.py``): the inference structure with and without the
  Ghost modules' channels padded to 16 (and, with them, the blocked-layout gates), static
  files, timed interleaved (blocks of five calls, ``--runs`` rounds, shuffled order) in ONNX
  Runtime fp32 and OpenVINO fp32 and bf16: the GhostNetV2 1.0x and GhostNetV1 1.0x classifiers
  at 224, the YOLOv3 backbone at 320 and the dilated (output stride 8) DeepLabV3 backbone at
  512.
- ``gate-broadcast``: the DFC gate multiplied in the inference structure through a 6-D broadcast
  view at half resolution (no ``Resize``, no up-sampled map) against ``Resize`` + multiply, the
  same files and runtimes as ``pad-channels`` (GhostNetV2 models only).
- ``blocked-gates`` (kept for ONNX Runtime): the padded structure as it is (every Ghost module
  padded, the SE and DFC gates in their blocked-layout forms, ``ghostv2_mm.models.deploy.
  blocked``) against the padded structure before them (modules of 8 or fewer intrinsic
  channels unpadded, the plain gates), in ONNX Runtime fp32: the ``pad-channels`` models and
  the YOLOv3 backbone at 416.
- ``ghost-dup``: Ghost modules of at most 36 intrinsic channels without ``Concat``, bit-exact:
  the primary conv computed twice by one conv, one depthwise conv giving the identity and the
  cheap features (:class:`DuplicatedGhost`), against the inference structure, the
  ``pad-channels`` models and runtimes (OpenVINO runs a channel concat of its channels-last
  maps as a copy per pixel).
- ``int8-structure`` (both kept for ONNX Runtime int8): the padded file ONNX Runtime quantises,
  int8 with the default float layers, three ways: quantised as ``onnxruntime.quantization``
  does by itself (convs that share a bias initializer, e.g. the zero biases of untrained batch
  norms, share its quantised copy), with every conv's parameters its own first
  (``ghostv2_mm.deploy.quantize.unshare_parameters``, the default), and with the DFC pooling
  exported as a depthwise conv too (``ghostv2_mm.models.deploy.conv_pooling``), timed
  interleaved in ONNX Runtime, the ``pad-channels`` models and the YOLOv3 backbone at 416.
"""
import argparse
import os.path as osp
import random
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# (block input channels, intrinsic channels, next conv's output channels, map size) of Ghost
# modules of GhostNetV2 1.0x at 224.
GHOST_SHAPES = [(16, 24, 24, 56), (24, 36, 24, 56), (40, 60, 40, 28), (80, 100, 80, 14),
                (112, 336, 112, 14), (160, 480, 160, 7)]
# (channels, size) of DFC attention maps (half resolution) in GhostNetV2 1.0x at 224.
DFC_SHAPES = [(48, 28), (72, 28), (72, 14), (120, 14), (240, 7), (200, 7), (480, 7), (672, 7),
              (960, 4)]


class GhostConcat(nn.Module):
    """Primary 1x1 conv, cheap depthwise 3x3 conv, concat, next 1x1 conv (as exported)."""

    def __init__(self, cin, init, nxt):
        super().__init__()
        self.primary = nn.Conv2d(cin, init, 1)
        self.cheap = nn.Conv2d(init, init, 3, 1, 1, groups=init)
        self.next = nn.Conv2d(2 * init, nxt, 1)

    def forward(self, x):
        x1 = torch.relu(self.primary(x))
        return self.next(torch.cat([x1, torch.relu(self.cheap(x1))], 1))


class GhostGrouped(nn.Module):
    """The same computation with one grouped conv instead of the cheap conv and the concat."""

    def __init__(self, ghost):
        super().__init__()
        init = ghost.primary.out_channels
        self.primary = ghost.primary
        self.both = nn.Conv2d(init, 2 * init, 3, 1, 1, groups=init)
        weight = torch.zeros(2 * init, 1, 3, 3)
        bias = torch.zeros(2 * init)
        weight[0::2, 0, 1, 1] = 1  # identity tap: the intrinsic feature
        weight[1::2] = ghost.cheap.weight.data
        bias[1::2] = ghost.cheap.bias.data
        self.both.weight.data, self.both.bias.data = weight, bias
        # Interleaved channel 2i is intrinsic channel i, 2i + 1 is cheap channel i (init + i).
        order = torch.arange(2 * init).view(2, init).t().reshape(-1)
        self.next = nn.Conv2d(2 * init, ghost.next.out_channels, 1)
        self.next.weight.data = ghost.next.weight.data[:, order]
        self.next.bias.data = ghost.next.bias.data.clone()

    def forward(self, x):
        return self.next(torch.relu(self.both(torch.relu(self.primary(x)))))


def median_ms(fn, runs, warmup=10):
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        fn()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def runtime_fn(path, runtime, x, threads, input_name='x'):
    if runtime == 'onnxruntime':
        from ghostv2_mm.deploy.onnx_export import onnx_session
        session = onnx_session(path, threads)
        return lambda: session.run(None, {input_name: x})
    import openvino as ov
    hint = runtime.split('-')[1]
    compiled = ov.Core().compile_model(path, 'CPU', {
        'INFERENCE_NUM_THREADS': threads, 'INFERENCE_PRECISION_HINT': hint,
        'PERFORMANCE_HINT': 'LATENCY'})
    request = compiled.create_infer_request()
    return lambda: request.infer({0: x})


def ghost_concat(args):
    torch.manual_seed(0)
    work = tempfile.mkdtemp(prefix='ghost_concat_')
    runtimes = ('onnxruntime', 'openvino-f32', 'openvino-bf16')
    print('Ghost module + next 1x1 conv, batch 1, ms: concat / grouped conv (ratio)')
    print('| in, intrinsic, next, size | max abs diff | ' + ' | '.join(runtimes) + ' |')
    print('| --- | --- |' + ' --- |' * len(runtimes))
    for cin, init, nxt, size in GHOST_SHAPES:
        reference = GhostConcat(cin, init, nxt).eval()
        rewrite = GhostGrouped(reference).eval()
        x = torch.randn(1, cin, size, size)
        with torch.no_grad():
            diff = (reference(x) - rewrite(x)).abs().max().item()
        paths = {}
        for name, model in (('concat', reference), ('grouped', rewrite)):
            paths[name] = osp.join(work, f'{name}.onnx')
            torch.onnx.export(model, x, paths[name], input_names=['x'], opset_version=17)
        cells = []
        for runtime in runtimes:
            ms = [median_ms(runtime_fn(paths[n], runtime, x.numpy(), args.threads), args.runs)
                  for n in ('concat', 'grouped')]
            cells.append(f'{ms[0]:.3f} / {ms[1]:.3f} ({ms[1] / ms[0]:.2f}x)')
        print(f'| {cin}, {init}, {nxt}, {size} | {diff:.1e} | ' + ' | '.join(cells) + ' |',
              flush=True)


class ExpandUpsample(torch.autograd.Function):
    """Nearest 2x up-sampling as an expanded view copied into place (forward) with PyTorch's
    own ``upsample_nearest2d`` backward: the same values and the same gradients as
    ``F.interpolate``."""

    @staticmethod
    def forward(ctx, x):
        n, c, h, w = x.shape
        ctx.input_size = [n, c, h, w]
        return x[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)

    @staticmethod
    def backward(ctx, grad):
        return torch.ops.aten.upsample_nearest2d_backward(grad, list(grad.shape[-2:]),
                                                          ctx.input_size, None, None)


def train_gate(args):
    def interpolate(y, a):
        return y * F.interpolate(torch.sigmoid(a), size=y.shape[-2:], mode='nearest')

    def broadcast(y, a):
        n, c, h, w = y.shape
        gate = torch.sigmoid(a)[:, :, :, None, :, None]
        return (y.view(n, c, h // 2, 2, w // 2, 2) * gate).view(n, c, h, w)

    def expand(y, a):
        return y * ExpandUpsample.apply(torch.sigmoid(a))

    print('DFC gate, forward + backward, batch 32, ms: F.interpolate / 6-D broadcast / '
          'expanded view with upsample backward')
    for c, half in DFC_SHAPES:
        y = torch.randn(32, c, 2 * half, 2 * half, requires_grad=True)
        a = torch.randn(32, c, half, half, requires_grad=True)
        grad = torch.randn_like(y)
        reference = interpolate(y, a)
        if not (torch.equal(reference, broadcast(y, a)) and torch.equal(reference, expand(y, a))):
            raise RuntimeError('a rewritten gate differs from the up-sampled one')
        grads = []
        for f in (interpolate, expand):
            a.grad = None
            f(y, a).backward(grad)
            grads.append(a.grad.clone())
        if not torch.equal(*grads):
            raise RuntimeError('the expanded gate\'s gradient differs from the up-sampled one')
        ms = [median_ms(lambda f=f: f(y, a).backward(grad), args.runs, warmup=3)
              for f in (interpolate, broadcast, expand)]
        print(f'  {c} channels, {2 * half}x{2 * half}: {ms[0]:.2f} / {ms[1]:.2f} '
              f'({ms[1] / ms[0]:.2f}x) / {ms[2]:.2f} ({ms[2] / ms[0]:.2f}x)', flush=True)


def train_fc(args):
    print('DFC FCs, forward + backward, batch 32, ms: depthwise convs / shifted multiply-adds')
    for c, size in DFC_SHAPES:
        z = torch.randn(32, c, size, size, requires_grad=True)
        fc_h = nn.Conv2d(c, c, (1, 5), padding=(0, 2), groups=c)
        fc_v = nn.Conv2d(c, c, (5, 1), padding=(2, 0), groups=c)

        def convs():
            return fc_v(fc_h(z))

        def shifts():
            wh, wv = fc_h.weight.view(c, 5), fc_v.weight.view(c, 5)
            zp = F.pad(z, (2, 2))
            h = sum(zp[..., k:k + size] * wh[:, k].view(1, c, 1, 1) for k in range(5))
            h = F.pad(h + fc_h.bias.view(1, c, 1, 1), (0, 0, 2, 2))
            v = sum(h[:, :, k:k + size] * wv[:, k].view(1, c, 1, 1) for k in range(5))
            return v + fc_v.bias.view(1, c, 1, 1)

        with torch.no_grad():
            diff = (convs() - shifts()).abs().max().item()
        grad = torch.randn(32, c, size, size)
        ms = [median_ms(lambda f=f: f().backward(grad), args.runs, warmup=3)
              for f in (convs, shifts)]
        print(f'  {c} channels, {size}x{size}: {ms[0]:.2f} / {ms[1]:.2f} '
              f'({ms[1] / ms[0]:.2f}x), max abs diff {diff:.1e}', flush=True)


def static_export(args):
    from ghostv2_mm.apis import build_model
    from ghostv2_mm.deploy.onnx_export import export_onnx, export_part, onnx_session
    torch.manual_seed(0)
    model = build_model('configs/mmpretrain/ghostnetv2_1.0x_in1k.py').eval()
    model.backbone.switch_to_deploy()
    work = tempfile.mkdtemp(prefix='static_export_')
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    sessions, outputs = {}, {}
    for name, dynamic in (('dynamic', True), ('static', False)):
        path = osp.join(work, f'{name}.onnx')
        export_onnx(export_part(model, 'classifier'), path, 'classifier', (224, 224),
                    dynamic=dynamic)
        sessions[name] = onnx_session(path, args.threads)
        outputs[name] = sessions[name].run(None, {'input': x})[0]
    diff = float(np.abs(outputs['dynamic'] - outputs['static']).max())
    times = {name: [] for name in sessions}
    for r in range(5 + args.runs):
        for name, session in sessions.items():
            for b in range(6):
                start = time.perf_counter()
                session.run(None, {'input': x})
                if r >= 5 and b:
                    times[name].append(time.perf_counter() - start)
    ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    print(f'GhostNetV2 1.0x classifier, ONNX Runtime fp32, batch 1, 224: dynamic '
          f'{ms["dynamic"]:.2f} ms, static {ms["static"]:.2f} ms '
          f'({ms["static"] / ms["dynamic"]:.3f}x), max abs diff {diff:.1e}')


# name -> (config, overrides, part, input size) of the pad-channels experiment.
PAD_MODELS = {
    'GhostNetV2 1.0x classifier, 224': ('configs/mmpretrain/ghostnetv2_1.0x_in1k.py', {},
                                        'classifier', 224),
    'GhostNetV1 1.0x classifier, 224': ('configs/mmpretrain/ghostnetv1_1.1x_in1k.py',
                                        {'model.backbone.widen_factor': 1.0,
                                         'model.head.in_channels': 960}, 'classifier', 224),
    'YOLOv3-GhostNetV2 backbone, 320': ('configs/mmdet/yolov3_ghostv2_320.py', {}, 'backbone',
                                        320),
    'DeepLabV3-GhostNetV2 backbone OS8, 512': ('configs/mmseg/deeplabv3_ghostv2_ade20k_512.py',
                                               {'model.backbone.norm_cfg.type': 'BN'},
                                               'backbone', 512),
}


# The YOLOv3 backbone at 416 (13x13 maps at stride 32: 6x6 gates edge-padded to 13x13).
BLOCKED_MODELS = {
    'YOLOv3-GhostNetV2 backbone, 416': ('configs/mmdet/yolov3_ghostv2_416.py', {}, 'backbone',
                                        416),
}


def interleaved_ms(fns, runs, block=5, warmup=3):
    """Median ms of each callable, ``warmup`` + ``runs`` rounds of ``block`` + 1 calls each in
    turn (the first call of a block not counted), the order shuffled every round: with a fixed
    order, the machine's periodic drifts can favour one position by a few percent."""
    times = {name: [] for name in fns}
    order = list(fns)
    shuffle = random.Random(0).shuffle
    for r in range(warmup + runs):
        shuffle(order)
        for name in order:
            fn = fns[name]
            for b in range(block + 1):
                start = time.perf_counter()
                fn()
                if r >= warmup and b:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def deployed(model):
    model.backbone.switch_to_deploy()


def replace_ghost_modules(model, wrapper, keep=lambda ghost: True):
    """The inference structure (unpadded: the structure of OpenVINO's files) with every Ghost
    module for which ``keep`` holds replaced by ``wrapper(module)``."""
    model.backbone.switch_to_deploy()
    for module in list(model.backbone.modules()):
        for name, child in module.named_children():
            if type(child).__name__ == 'GhostModule' and keep(child):
                setattr(module, name, wrapper(child))


def compare_exports(args, models, variant, labels, baseline=deployed,
                    runtimes=('onnxruntime', 'openvino-f32', 'openvino-bf16')):
    """Export each model's inference structure as ``baseline`` makes it (a function of the
    trained model; default ``switch_to_deploy``) and as ``variant`` does, static files, check
    both give the same outputs and time them interleaved in each runtime; prints a table row per
    model."""
    from ghostv2_mm.apis import build_model
    from ghostv2_mm.deploy.onnx_export import export_onnx, export_part, onnx_session
    work = tempfile.mkdtemp(prefix='rewrite_')
    print(f'batch 1, {args.threads} threads, median of {args.runs} interleaved rounds, ms: '
          f'{labels[0]} / {labels[1]} (ratio)')
    print('| model | max abs diff | ' + ' | '.join(runtimes) + ' |')
    print('| --- | --- |' + ' --- |' * len(runtimes))
    for name, (config, overrides, part, size) in models.items():
        torch.manual_seed(0)
        options = dict(overrides, **{'model.backbone.init_cfg': None})
        trained = build_model(config, options).eval()
        x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
        paths, outputs = {}, {}
        for changed in (False, True):
            model = build_model(config, options).eval()
            model.load_state_dict(trained.state_dict())
            (variant if changed else baseline)(model)
            paths[changed] = osp.join(work, f'{part}_{size}_{changed}.onnx')
            export_onnx(export_part(model, part), paths[changed], part, (size, size),
                        dynamic=False)
            outputs[changed] = onnx_session(paths[changed], args.threads).run(None, {'input': x})
        diff = max(float(np.abs(a - b).max()) for a, b in zip(outputs[False], outputs[True]))
        cells = []
        for runtime in runtimes:
            fns = {changed: runtime_fn(paths[changed], runtime, x, args.threads, 'input')
                   for changed in paths}
            ms = interleaved_ms(fns, args.runs)
            cells.append(f'{ms[False]:.2f} / {ms[True]:.2f} ({ms[True] / ms[False]:.2f}x)')
        print(f'| {name} | {diff:.1e} | ' + ' | '.join(cells) + ' |', flush=True)


def padded(model):
    model.backbone.pad_channels = 16
    model.backbone.switch_to_deploy()


def pad_channels(args):
    compare_exports(args, PAD_MODELS, padded, ('unpadded', 'padded'))


def blocked_gates(args):
    from ghostv2_mm.models.deploy import pad_channels as pad

    def padded_before(model):
        # Modules of 8 or fewer intrinsic channels unpadded, the gates in their plain forms.
        backbone = model.backbone.switch_to_deploy()
        backbone.channel_selects = nn.ModuleDict(
            {str(i): m for i, m in pad(backbone, 16, min_channels=9).items()})

    compare_exports(args, dict(PAD_MODELS, **BLOCKED_MODELS), padded,
                    ('padded before', 'padded, blocked gates'), baseline=padded_before,
                    runtimes=('onnxruntime', ))


class BroadcastGate(nn.Module):
    """A deployed Ghost module with DFC attention whose gate multiplies the output through a 6-D
    broadcast view, at half resolution, never up-sampled (where the output is exactly twice the
    gate's size; nearest up-sampling, the scaling function before it)."""

    def __init__(self, ghost):
        super().__init__()
        self.ghost = ghost

    def forward(self, x):
        from ghostv2_mm.models.layers.dfc_attention import GATES
        ghost, attn = self.ghost, self.ghost.short_conv
        x1 = ghost.primary_conv(x)
        y = torch.cat([x1, ghost.cheap_operation(x1)], dim=1)
        if y.shape[1] > ghost.out_channels:
            y = y[:, :ghost.out_channels]
        gate = GATES[attn.gate](attn.attention(x))
        n, c, height, width = y.shape
        h, w = gate.shape[-2:]
        if (height, width) != (2 * h, 2 * w):
            return y * F.interpolate(gate, size=(height, width), mode='nearest')
        return (y.view(n, c, h, 2, w, 2) * gate[:, :, :, None, :, None]).view(n, c, height, width)


def gate_broadcast(args):
    def broadcast(model):
        replace_ghost_modules(model, BroadcastGate, lambda ghost: ghost.short_conv is not None)

    models = {k: v for k, v in PAD_MODELS.items() if 'GhostNetV1' not in k}
    compare_exports(args, models, broadcast, ('up-sampled gate', 'broadcast gate'))


class DuplicatedGhost(nn.Module):
    """A deployed Ghost module without ``Concat``, bit-exact: the primary 1x1 conv computed
    twice by one conv (filters ``[W; W]``), then one depthwise conv over both copies whose first
    half is the identity (a kernel with 1 at its centre, no bias; ReLU is idempotent) and whose
    second half is the cheap operation, so the output is the concatenation, written by the
    depthwise conv. Costs a second primary conv: applied to modules of at most ``MAX_DUP``
    intrinsic channels, where the maps are largest and the channels fewest."""

    def __init__(self, ghost):
        super().__init__()
        primary, cheap = ghost.primary_conv[0], ghost.cheap_operation[0]
        init = primary.out_channels
        self.out_channels = ghost.out_channels
        self.relu = len(ghost.primary_conv) > 2
        self.short_conv = ghost.short_conv
        self.conv = nn.Conv2d(primary.in_channels, 2 * init, 1)
        self.conv.weight.data = torch.cat([primary.weight.data] * 2)
        self.conv.bias.data = torch.cat([primary.bias.data] * 2)
        k = cheap.kernel_size
        self.dw = nn.Conv2d(2 * init, 2 * init, k, padding=cheap.padding,
                            dilation=cheap.dilation, groups=2 * init)
        self.dw.weight.data.zero_()
        self.dw.weight.data[:init, 0, k[0] // 2, k[1] // 2] = 1
        self.dw.weight.data[init:] = cheap.weight.data
        self.dw.bias.data = torch.cat([torch.zeros(init), cheap.bias.data])

    def forward(self, x):
        y = self.conv(x)
        y = F.relu(y) if self.relu else y
        y = self.dw(y)
        y = F.relu(y) if self.relu else y
        if y.shape[1] > self.out_channels:
            y = y[:, :self.out_channels]
        return y if self.short_conv is None else y * self.short_conv(x, y.shape[-2:])


MAX_DUP = 36


def ghost_dup(args):
    def duplicated(model):
        replace_ghost_modules(model, DuplicatedGhost,
                              lambda ghost: ghost.primary_conv[0].out_channels <= MAX_DUP)

    compare_exports(args, PAD_MODELS, duplicated, ('concat', 'duplicated primary conv'))


def int8_structure(args):
    from ghostv2_mm.apis import build_model
    from ghostv2_mm.deploy.onnx_export import export_onnx, export_part, onnx_session
    from ghostv2_mm.deploy.quantize import quantize
    work = tempfile.mkdtemp(prefix='int8_structure_')
    sides = ('shared parameters', 'own parameters', 'own parameters, conv pooling')
    print(f'ONNX Runtime int8, batch 1, {args.threads} threads, median of {args.runs} '
          f'interleaved rounds, ms (ratio to the first)')
    print('| model | float files: max abs diff | ' + ' | '.join(sides) + ' |')
    print('| --- | --- |' + ' --- |' * len(sides))
    for name, (config, overrides, part, size) in dict(PAD_MODELS, **BLOCKED_MODELS).items():
        torch.manual_seed(0)
        model = build_model(config, dict(overrides, **{'model.backbone.init_cfg': None})).eval()
        padded(model)
        rng = np.random.default_rng(0)
        calib = [rng.standard_normal((1, 3, size, size)).astype(np.float32) for _ in range(4)]
        x = calib[0]
        floats, outputs, files = {}, {}, {}
        for conv_pool in (False, True):
            floats[conv_pool] = osp.join(work, f'{part}_{size}_{conv_pool}.onnx')
            export_onnx(export_part(model, part), floats[conv_pool], part, (size, size),
                        dynamic=False, blocked=False, conv_pool=conv_pool)
            outputs[conv_pool] = onnx_session(floats[conv_pool], args.threads).run(
                None, {'input': x})
        diff = max(float(np.abs(a - b).max()) for a, b in zip(outputs[False], outputs[True]))
        for side, (conv_pool, unshare) in zip(sides, ((False, False), (False, True),
                                                      (True, True))):
            out = osp.join(work, f'{part}_{size}_{len(files)}')
            files[side] = quantize(floats[conv_pool], 'onnxruntime', 'int8', calib, out,
                                   unshare=unshare)['files'][0]
        fns = {side: runtime_fn(files[side], 'onnxruntime', x, args.threads, 'input')
               for side in sides}
        ms = interleaved_ms(fns, args.runs)
        cells = [f'{ms[side]:.2f} ({ms[side] / ms[sides[0]]:.2f}x)' for side in sides]
        print(f'| {name} | {diff:.1e} | ' + ' | '.join(cells) + ' |', flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('experiment',
                        choices=('ghost-concat', 'train-gate', 'train-fc', 'static-export',
                                 'pad-channels', 'gate-broadcast', 'blocked-gates',
                                 'ghost-dup', 'int8-structure'))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--runs', type=int, help='timed runs (default: 200 for ghost-concat, '
                        '100 for static-export, 30 for pad-channels, gate-broadcast, '
                        'blocked-gates, ghost-dup and int8-structure, 20 for the training '
                        'experiments)')
    args = parser.parse_args()
    args.runs = args.runs or dict(ghost_concat=200, static_export=100, pad_channels=30,
                                  gate_broadcast=30, blocked_gates=30, ghost_dup=30,
                                  int8_structure=30).get(
        args.experiment.replace('-', '_'), 20)
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    experiments = dict(ghost_concat=ghost_concat, train_gate=train_gate, train_fc=train_fc,
                       static_export=static_export, pad_channels=pad_channels,
                       gate_broadcast=gate_broadcast, blocked_gates=blocked_gates,
                       ghost_dup=ghost_dup, int8_structure=int8_structure)
    experiments[args.experiment.replace('-', '_')](args)


if __name__ == '__main__':
    main()
