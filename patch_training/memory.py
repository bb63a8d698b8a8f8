"""Memory estimates for training and stylizing: on a GPU, how much a host (ComfyUI) should free beforehand;
on the machine itself, whether the work fits at all (check_host_memory: refused before it starts).

Estimates are upper bounds built from the network's own layer outputs (counted once on a small CPU input),
the tile and batch sizes, the optimizer state, and the frames, guides and optical flow held in memory; the
host figures are checked against measured peaks (benchmarks/memory_preflight.py, benchmarks/RESULTS.md).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from .config import BATCH_PIXELS, GeneratorConfig, default_tile
from .errors import ConfigError, MemoryLimitError
from .guides.flow import working_size
from .model.networks import build_generator

# Sets the memory "available" to patch-toon, in MB, instead of what the machine reports (tests, shared hosts).
MEMORY_LIMIT_ENV = "PATCH_TOON_MEMORY_LIMIT_MB"
_FLOAT = 4

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
    """Device memory to stylize `frames` frames of height x width with stylize.tiled.stylize(batch_size, tile).

    Bounded by the tile whatever the frame size: a frame larger than the tile is cut into tiles of `tile` pixels.
    tile: as in stylize (0 = config.default_tile). dtype_bytes: 2 for half precision (GPU default), 4 for fp32.
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
    """Device memory for train.loop.train_style_model: weights with gradients and Adam moments, the keyframes
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


def guides_host_bytes(frames: int, height: int, width: int, channels: int, flow: bool = True) -> int:
    """Host memory to compute `channels` guide channels for a clip: the guides [T, H, W, G], the optical flow at
    its working size (both directions and their confidences) and the per-frame work buffers of advection."""
    pixels = height * width
    h, w = working_size(height, width)
    flow_bytes = max(frames - 1, 0) * h * w * 6 * _FLOAT if flow else 0
    work = _GUIDE_WORK_FRAMES * pixels * 4 * _FLOAT
    return frames * pixels * channels * _FLOAT + flow_bytes + work


# What training takes whatever the frame size: autograd, oneDNN's workspaces, code loaded at first use
# (measured: 150-180 MB of growth at 256x256, benchmarks/memory_preflight.py).
_TRAINING_RUNTIME = 160 * 2**20
# Frame-sized float32 RGBA buffers held at once while guides are computed (patterns, advected positions,
# confidences, the frame being written). Calibrated on the measured peaks: benchmarks/memory_preflight.py.
_GUIDE_WORK_FRAMES = 6


def training_host_bytes(config: GeneratorConfig, frames: int, height: int, width: int, keyframes: int,
                        batch_size: int = 16, patch_size: int = 48, guide_channels: int = 0,
                        frames_held: bool = True, on_gpu: bool = False) -> int:
    """Host memory for train.fit.fit_style: the clip and stylized keyframes (unless already held), the guides to
    compute (guide_channels, 0 = none or given), the keyframes' training tensors as they are staged
    (concatenated, cloned, permuted), the training runtime, and on the CPU the network's training_bytes."""
    pixels = height * width
    held = 0 if frames_held else (frames + keyframes) * pixels * 3 * _FLOAT
    guides = guides_host_bytes(frames, height, width, guide_channels) if guide_channels else 0
    staging = keyframes * pixels * (config.in_channels + 3 + 1) * _FLOAT
    network = 0 if on_gpu else training_bytes(config, keyframes, height, width, batch_size, patch_size)
    return int(held + guides + staging + network + _TRAINING_RUNTIME)


def stylize_host_bytes(config: GeneratorConfig, frames: int, height: int, width: int, batch_size: int = 4,
                       tile: int = 0, frames_held: bool = True, output: bool = True, on_gpu: bool = False) -> int:
    """Host memory for stylize.tiled.stylize of `frames` frames: the frames (unless held) and their guides joined
    to them, the output [T, H, W, 3] (unless written out batch by batch), one batch's padded input and
    blending buffers, and on the CPU the network's inference_bytes."""
    pixels = height * width
    batch = max(1, min(batch_size, frames))
    held = 0 if frames_held else frames * pixels * 3 * _FLOAT
    joined = frames * pixels * config.in_channels * _FLOAT if config.in_channels > 3 else 0
    out = frames * pixels * 3 * _FLOAT if output else 0
    buffers = batch * pixels * (config.in_channels + 4 * 3) * _FLOAT
    network = 0 if on_gpu else inference_bytes(config, frames, height, width, batch_size, tile, _FLOAT)
    return int(held + joined + out + buffers + network)


def available_host_bytes() -> int | None:
    """Memory patch-toon may still use: PATCH_TOON_MEMORY_LIMIT_MB if set, else the least of the kernel's
    MemAvailable and the room left under a cgroup limit (containers); None where neither can be read."""
    limit = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if limit:
        try:
            megabytes = float(limit)
        except ValueError:
            megabytes = -1.0
        if not megabytes > 0:
            raise ConfigError(f"{MEMORY_LIMIT_ENV}: expected a number of megabytes above 0, received {limit!r}. "
                              f"Unset it to use what the machine reports.")
        return int(megabytes * 2**20)
    found = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    return min(found) if found else None


def check_host_memory(needed: int, task: str, fixes: str) -> None:
    """Raise MemoryLimitError, before any work starts, when `needed` bytes exceed available_host_bytes().

    task: what would run, in the user's words ("training on 4 frames of 1920x1080"); fixes: what to change.
    """
    available = available_host_bytes()
    if available is None or needed <= available:
        return
    source = f" ({MEMORY_LIMIT_ENV})" if os.environ.get(MEMORY_LIMIT_ENV, "").strip() else ""
    raise MemoryLimitError(f"memory: {task} needs about {_gb(needed)} of memory, {_gb(available)} is available"
                           f"{source}; nothing was started. {fixes}")


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """Limit minus usage of this process's memory cgroup (v2, then v1); None without a limit."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max", or v1's "no limit" of about 2**63
            return max(0, int(limit) - usage)
    return None


def stream_host_bytes(config: GeneratorConfig, height: int, width: int, guide_channels: int, advected_channels: int,
                      batch_size: int = 4, tile: int = 0, store_mb: float = 256) -> int:
    """Host memory for stylize.stream.stylize_stream, whatever the clip's length: one batch (config.BATCH_PIXELS
    bounds it) stylized as stylize_host_bytes, and for a guided model the guide stream: its RAM store, the
    padded images advected from up to three keyframes, and the frame-sized work buffers of guides.stream."""
    from .guides.filters import pattern_pad

    pixels = height * width
    batch = max(1, min(batch_size, BATCH_PIXELS // pixels))
    needed = stylize_host_bytes(config, batch, height, width, batch, tile, frames_held=False, output=False)
    if guide_channels:
        pad = pattern_pad(height, width)
        sources = 3 * (height + 2 * pad) * (width + 2 * pad) * advected_channels * _FLOAT
        needed += int(store_mb * 2**20) + sources + guides_host_bytes(batch, height, width, guide_channels)
    return int(needed)
