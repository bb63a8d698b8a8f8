"""Quality measures and baselines: PSNR, SSIM, and the fitted colour lookup table ("basic colorization")."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def psnr(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean PSNR in dB over a batch [T, H, W, 3] in 0..1."""
    mse = ((output.float() - target.float()) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1 / mse)).mean())


def ssim(output: torch.Tensor, target: torch.Tensor) -> float:
    """Mean SSIM over a batch [T, H, W, 3] in 0..1 (Gaussian window, sigma 1.5, on luma, as is customary)."""
    weights = torch.tensor([0.299, 0.587, 0.114])
    a = (output.float() * weights).sum(-1)[:, None]
    b = (target.float() * weights).sum(-1)[:, None]
    x = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-x ** 2 / (2 * 1.5 ** 2))
    g = (g / g.sum())
    window = (g[:, None] * g[None, :])[None, None]
    blur = lambda t: F.conv2d(t, window)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


class ColorLUT:
    """A 3D colour lookup table fitted from (frame, stylized) pixel pairs: each input colour maps to the mean
    stylized colour of its bin, empty bins to the nearest filled one. This is the "basic colorization"
    ceiling an earlier attempt at this project never got past: any model worth using must beat it."""

    def __init__(self, frames: torch.Tensor, styled: torch.Tensor, bins: int = 16,
                 masks: torch.Tensor | None = None):
        self.bins = bins
        src = frames.reshape(-1, 3).float()
        dst = styled.reshape(-1, 3).float()
        if masks is not None:
            keep = masks.reshape(-1) >= 0.5
            src, dst = src[keep], dst[keep]
        index = self._index(src)
        sums = torch.zeros(bins ** 3, 3).index_add_(0, index, dst)
        counts = torch.zeros(bins ** 3).index_add_(0, index, torch.ones(len(index)))
        filled = counts > 0
        table = sums / counts.clamp_min(1)[:, None]
        # empty bins take the value of the nearest filled bin (by bin centre)
        grid = torch.stack(torch.meshgrid(*[torch.arange(bins)] * 3, indexing="ij"), -1).reshape(-1, 3).float()
        nearest = torch.cdist(grid, grid[filled]).argmin(1)
        self.table = table[filled][nearest]

    def _index(self, colours: torch.Tensor) -> torch.Tensor:
        q = (colours.clamp(0, 1) * (self.bins - 1) + 0.5).long()
        return (q[:, 0] * self.bins + q[:, 1]) * self.bins + q[:, 2]

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        return self.table[self._index(frames.reshape(-1, 3))].reshape(frames.shape)


def temporal_instability(styled: torch.Tensor, flow) -> float:
    """Mean colour change of a stylized clip along the input's optical flow (occlusions masked).

    styled: [T, H, W, 3] 0..1; flow: guides.compute_flow(input frames). For each pair (t, t+1), frame t+1 is
    sampled where each pixel of frame t moved to, and the absolute difference is averaged over pixels the
    forward-backward check trusts. Static texture that moves with the content scores low; flicker and
    sliding texture score high. Compare with the same measure on a ground-truth stylization.
    """
    import cv2
    import numpy as np

    x = styled.float().clamp(0, 1).numpy()
    h, w = x.shape[1:3]
    total, weight = 0.0, 0.0
    for t in range(x.shape[0] - 1):
        grid = np.stack(np.meshgrid(np.arange(flow.size[1], dtype=np.float32),
                                    np.arange(flow.size[0], dtype=np.float32)), -1)
        pos = flow.to_frame_positions(grid + flow.forward[t])
        moved = cv2.remap(x[t + 1], pos[..., 0], pos[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        trust = (flow.to_frame_map(flow.forward_confidence[t]) > 0.5).astype(np.float32)
        total += float((np.abs(moved - x[t]).mean(-1) * trust).sum())
        weight += float(trust.sum())
    return total / max(weight, 1.0)
