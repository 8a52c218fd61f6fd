"""A model seen through one of its calls, for tools that take a module with a tensor-to-tensor
``forward`` (mmengine's FlopAnalyzer, ``torch.onnx.export``)."""
import torch


class TensorForward(torch.nn.Module):
    """A module whose ``forward`` is ``fn`` (e.g. a classifier's ``mode='tensor'`` call).

    Args:
        model (nn.Module): The model ``fn`` calls; a submodule, so its parameters are the wrapper's.
        fn (callable): Input tensor to output tensor(s).
    """

    def __init__(self, model, fn):
        super().__init__()
        self.model = model
        self._fn = fn
        # Tools that switch modes and restore them (torch.onnx.export) would otherwise restore a
        # fresh wrapper's training mode onto an eval model.
        self.train(model.training)

    def forward(self, x):
        return self._fn(x)
