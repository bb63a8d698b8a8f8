"""Memory estimates for training and stylizing on a GPU: how much a host (ComfyUI) should free beforehand.

Estimates are upper bounds built from the network's own layer outputs (counted once on a small CPU input),
the tile and batch sizes and the optimizer state; they are not measurements of a particular GPU.
"""
from __future__ import annotations

import functools

import torch

from .config import GeneratorConfig
from .inference import default_tile
from .models import build_generator

_PROBE = 64  # side of the probe input; a multiple of every preset's stride


@functools.lru_cache(maxsize=32)
def activation_floats_per_pixel(config: GeneratorConfig) -> float:
    """Values written by all layers of one forward pass, per input pixel (summed over every layer output)."""
    total = 0

    def count(_module, _inputs, output) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel()

    with torch.random.fork_rng(devices=[]), torch.inference_mode(False), torch.no_grad():
        net = build_generator(config).eval()
        leaves = [m for m in net.modules() if not list(m.children())]
        handles = [m.register_forward_hook(count) for m in leaves]
        try:
            net(torch.zeros(1, config.in_channels, _PROBE, _PROBE))
        finally:
            for handle in handles:
                handle.remove()
    return total / (_PROBE * _PROBE)


def parameter_count(config: GeneratorConfig) -> int:
    with torch.random.fork_rng(devices=[]), torch.inference_mode(False):
        return sum(p.numel() for p in build_generator(config).parameters())


def inference_bytes(config: GeneratorConfig, frames: int, height: int, width: int, batch_size: int = 4,
                    tile: int = 0, dtype_bytes: int = 2) -> int:
    """Device memory to stylize `frames` frames of height x width with inference.stylize(batch_size, tile).

    Bounded by the tile whatever the frame size: a frame larger than the tile is cut into tiles of `tile` pixels.
    tile: as in stylize (0 = inference.default_tile). dtype_bytes: 2 for half precision (GPU default), 4 for fp32.
    """
    tile = tile or default_tile(config)
    stride = config.stride  # tiles (context margins included) are at most `tile` pixels a side
    side_h = min(_round_up(height, stride), _round_up(tile, stride))
    side_w = min(_round_up(width, stride), _round_up(tile, stride))
    pixels = max(1, min(batch_size, frames)) * side_h * side_w
    activations = pixels * activation_floats_per_pixel(config) * dtype_bytes
    weights = parameter_count(config) * 4
    io = pixels * (config.in_channels + 3) * 4
    return int(activations + weights + io)


def training_bytes(config: GeneratorConfig, keyframes: int, height: int, width: int, batch_size: int = 16,
                   patch_size: int = 48, preview_side: int = 512) -> int:
    """Device memory for trainer.train_style_model: weights with gradients and Adam moments, the keyframes
    (inputs and targets) on the device, one batch of patches forward and backward, and the preview render."""
    weights = parameter_count(config) * 4 * 4  # weights, gradients, two Adam moments
    keyframe_tensors = keyframes * height * width * (config.in_channels + 3 + 1) * 4
    # Activations kept for backward plus their gradients, fp32 (autocast keeps fp32 copies of some).
    patches = batch_size * patch_size * patch_size * activation_floats_per_pixel(config) * 4 * 2
    scale = min(1.0, preview_side / max(height, width))
    preview = inference_bytes(config, 1, round(height * scale), round(width * scale), 1, preview_side, 4)
    return int(weights + keyframe_tensors + patches + preview)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
