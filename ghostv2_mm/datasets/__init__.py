from .transforms import CheckSegLabels

__all__ = ['CheckSegLabels']
