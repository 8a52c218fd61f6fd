from torch.nn.modules.batchnorm import _BatchNorm


def randomize_bn(model):
    """Give every BN non-trivial statistics and affine parameters (as a trained network has), so
    that comparisons exercise them; returns the model in eval mode."""
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()
