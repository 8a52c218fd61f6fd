from tests.tools.conftest import tiny_cls, tiny_det, tiny_seg  # noqa: F401  generated datasets
