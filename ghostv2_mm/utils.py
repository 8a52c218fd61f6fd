def make_divisible(value, divisor=4, min_value=None, min_ratio=0.9):
    """Round ``value`` to the nearest multiple of ``divisor`` (the rule of the official code).

    Args:
        value (float): The value to round.
        divisor (int): The result is a multiple of it. Defaults to 4.
        min_value (int, optional): Lower bound of the result. Defaults to ``divisor``.
        min_ratio (float): When rounding lost more than ``1 - min_ratio`` of ``value``, one
            ``divisor`` is added back. Defaults to 0.9.

    Returns:
        int: The rounded value.
    """
    min_value = divisor if min_value is None else min_value
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < min_ratio * value:
        new_value += divisor
    return new_value


def check_choice(name, value, choices):
    """Raise ``ValueError`` naming the argument and the allowed values unless ``value`` is one of
    ``choices``."""
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, but received {value!r}')
