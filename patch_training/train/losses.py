"""Training losses: L1, SSIM, image-gradient L1, perceptual (VGG19, user-supplied weights), adversarial (LSGAN)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

from ..errors import ConfigError


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of values [B, C, H, W] weighted by mask [B, 1, H, W] (None: plain mean)."""
    if mask is None:
        return values.mean()
    weight = mask.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def l1_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    return masked_mean((output - target).abs(), mask)


def ssim_map(a: torch.Tensor, b: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Per-pixel SSIM of two batches [B, C, H, W] in 0..1 with a uniform window (valid positions only)."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    pool = lambda x: F.avg_pool2d(x, window, 1)  # noqa: E731
    mu_a, mu_b = pool(a), pool(b)
    var_a = pool(a * a) - mu_a ** 2
    var_b = pool(b * b) - mu_b ** 2
    cov = pool(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))


def ssim_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    window = 7
    values = 1 - ssim_map(output.float(), target.float(), window)
    if mask is not None:
        mask = F.avg_pool2d(mask, window, 1)
    return masked_mean(values, mask)


def gradient_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences: rewards strokes and edges where the target has them."""
    def grads(x):
        return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
    (ox, oy), (tx, ty) = grads(output), grads(target)
    mx = my = None
    if mask is not None:
        mx, my = mask[..., :, 1:] * mask[..., :, :-1], mask[..., 1:, :] * mask[..., :-1, :]
    return masked_mean((ox - tx).abs(), mx) + masked_mean((oy - ty).abs(), my)


class VGG19Features(nn.Module):
    """The first layers of VGG19 (torchvision's `features` layout) for the paper's perceptual loss.

    The paper uses feature layers 0, 3 and 5 (conv1_1, relu1_2, conv2_1) without input normalisation.
    Weights must come from a file the user supplies (nothing can be downloaded): a .safetensors or a
    torch state dict (.pth, loaded with weights_only=True) with keys `features.N.weight` / `features.N.bias`.
    """

    LAYERS = (0, 3, 5)

    def __init__(self, path: str):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1), nn.ReLU(), nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU(),
                                      nn.MaxPool2d(2, 2), nn.Conv2d(64, 128, 3, 1, 1))
        state = _load_state(path)
        wanted = {f"features.{i}.{p}" for i in (0, 2, 5) for p in ("weight", "bias")}
        missing = sorted(wanted - set(state))
        if missing:
            raise ConfigError(f"vgg_path: expected VGG19 weights with keys {sorted(wanted)}, the file {path} lacks "
                              f"{missing}. Give torchvision's vgg19 state dict (or its .safetensors).")
        self.load_state_dict({k: state[k] for k in wanted})
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, feats = x * 2 - 1, []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.LAYERS:
                feats.append(h.flatten(1))
        return torch.cat(feats, 1)


def _load_state(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"vgg_path: expected a VGG19 weights file, {path} does not exist.")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(p))
    return torch.load(str(p), map_location="cpu", weights_only=True)


def lsgan_loss(prediction: torch.Tensor, real: bool) -> torch.Tensor:
    """The paper's adversarial criterion: MSE against 1 (real) or 0 (fake)."""
    return F.mse_loss(prediction, torch.full_like(prediction, 1.0 if real else 0.0))
