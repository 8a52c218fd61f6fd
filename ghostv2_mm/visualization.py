"""Drawing DFC attention maps (paper Figure 6): what tools/analysis/visualize_dfc.py writes."""
import cv2
import numpy as np

from .models.layers.dfc_attention import downsample


def overlay(image, heat, pixel=None):
    heat = heat - heat.min()
    heat = heat / heat.max() if heat.max() > 0 else heat
    heat = cv2.resize(heat.astype(np.float32), image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    color = cv2.applyColorMap(np.uint8(255 * heat), cv2.COLORMAP_JET)
    out = cv2.addWeighted(image, 0.5, color, 0.5, 0)
    if pixel is not None:
        cv2.drawMarker(out, (int(pixel[1]), int(pixel[0])), (255, 255, 255), cv2.MARKER_CROSS,
                       12, 2)
    return out


def dfc_maps(attn, x, size, rel_pixel):
    """Horizontal features, gated attention map and the Eq. 3 weights of one DFCAttention."""
    z = attn.proj(downsample(x, attn.down_mode)).detach().requires_grad_(True)
    horizontal = attn.fc_h(z)
    vertical = attn.fc_v(horizontal)
    gate = attn(x, size)
    py, px = (min(int(r * n), n - 1) for r, n in zip(rel_pixel, vertical.shape[-2:]))
    vertical[0, :, py, px].sum().backward()
    return (horizontal[0].mean(0).detach().numpy(), gate[0].mean(0).detach().numpy(),
            z.grad[0].abs().sum(0).numpy())
