"""The backbone's taps against what reads them: a built detector's neck (``in_channels``) or a
segmentor's heads (``in_channels`` at ``in_index``). A mismatch otherwise builds fine and fails at
the first forward with a convolution's shape error that names neither list.
"""
from .errors import ConfigError

# Necks whose in_channels list the backbone's outputs deepest first (mmdet's YOLOv3 neck reads
# ``feats[-1]`` with ``in_channels[0]``); every other neck lists them in the backbone's order.
DEEPEST_FIRST = ('YOLOV3Neck', )


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _consumers(model):
    """``(key, in_channels, expected, note)`` of every module that reads the backbone's outputs
    and says how many channels it expects."""
    channels = list(model.backbone.out_channels)
    neck = getattr(model, 'neck', None)
    if neck is not None:  # only a neck that says its input channels is checked
        if hasattr(neck, 'in_channels'):
            name = type(neck).__name__
            note = f' (deepest first, as {name} reads them)' if name in DEEPEST_FIRST else ''
            yield 'model.neck.in_channels', _as_list(neck.in_channels), \
                channels[::-1] if note else channels, note
        return
    for key in ('decode_head', 'auxiliary_head'):
        heads = getattr(model, key, None)
        many = hasattr(heads, '__iter__')
        for i, head in enumerate(heads if many else [heads]):
            index = getattr(head, 'in_index', None)
            if index is None or getattr(head, 'input_transform', None) == 'resize_concat':
                continue
            name = f'model.{key}' + (f'.{i}' if many else '')
            try:
                expected = [channels[j] for j in _as_list(index)]
            except IndexError:
                raise ConfigError(f'{name}.in_index {index} is out of range for the backbone\'s '
                                  f'{len(channels)} outputs {channels}') from None
            yield f'{name}.in_channels', _as_list(head.in_channels), expected, \
                f' (the backbone\'s outputs at in_index {index})'


def check_taps(model):
    """Check that the backbone's output channels (its taps) are what the neck, or a segmentor's
    heads, of ``model`` (possibly in a wrapper such as DDP) were built to read. Backbones that do
    not say their ``out_channels`` are not checked.

    Raises:
        ConfigError: ``'model.neck.in_channels [...] does not match the backbone's taps:
            out_indices (...) -> out_channels [...]; model.neck.in_channels must be [...]'``.
    """
    from mmengine.model import is_model_wrapper
    model = model.module if is_model_wrapper(model) else model
    backbone = getattr(model, 'backbone', None)
    if not isinstance(getattr(backbone, 'out_channels', None), (list, tuple)):
        return
    taps = getattr(backbone, 'out_indices', None)
    for key, got, expected, note in _consumers(model):
        if got != expected:
            raise ConfigError(
                f'{key} {got} does not match the backbone\'s taps: out_indices {tuple(taps)} -> '
                f'out_channels {list(backbone.out_channels)}; {key} must be {expected}{note}')
