"""Stylization: frames (+ guides) through a trained generator, batched over frames and tiled over space.

Tiles are cut at multiples of the network stride with a context margin of the network's receptive radius
around each, and neighbouring tiles are blended with linear ramps over their overlap; so a tiled frame equals
the whole frame to float precision, while memory is bounded by the tile size whatever the frame size.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from .. import memory
from ..config import BATCH_PIXELS, DEFAULT_TILE, StylizeOptions, default_tile
from ..errors import ConfigError, GuideError, check_image_batch
from ..model.networks import StyleModel, receptive_radius
from ..runtime import (autocast, cpu_precision, cpu_threads, empty_cache, on_device_or_cpu, resolve_device,
                       resolve_precision)

BLEND = 16  # pixels over which neighbouring tiles cross-fade
STYLIZE_FIXES = ("Stylize fewer frames at once (Load Frames' count and start, or a folder streamed by the command "
                 "line), smaller frames (max_side), a smaller batch_size or tile.")


def model_inputs(model: StyleModel, frames: torch.Tensor, guides: torch.Tensor | None) -> torch.Tensor:
    """Check frames [T, H, W, 3] and guides [T, H, W, G] against the model; return NCHW float32 on the CPU."""
    check_image_batch("frames", frames)
    g = model.guide_channels
    if g == 0:
        if guides is not None and guides.shape[-1] > 0:
            raise GuideError(f"guides: this model was trained on the frames alone, received {guides.shape[-1]} guide "
                             f"channels. Disconnect the guides.")
        x = frames
    else:
        if guides is None:
            raise GuideError(f"guides: this model was trained with guides {model.guides.get('names', model.guides)} "
                             f"({g} channels); none were given. Compute the same guides for these frames.")
        if guides.shape[:3] != frames.shape[:3] or guides.shape[-1] != g:
            raise GuideError(f"guides: expected shape [{frames.shape[0]}, {frames.shape[1]}, {frames.shape[2]}, {g}] "
                             f"(one row per frame, {g} channels as at training), received {list(guides.shape)}.")
        x = torch.cat((frames, guides.to(frames.dtype)), -1)
    return x.permute(0, 3, 1, 2).float()


def stylize(model: StyleModel, frames: torch.Tensor, guides: torch.Tensor | None = None, batch_size: int = 4,
            tile: int = DEFAULT_TILE, device: str | torch.device = "auto", precision: str = "auto",
            threads: int = 0, on_progress: Callable[[int, int], None] | None = None,
            check_memory: bool = True) -> torch.Tensor:
    """Stylize every frame. frames: [T, H, W, 3] float32 0..1 CPU; guides: [T, H, W, G] or None.

    Returns [T, H, W, 3] float32 0..1 on the CPU. on_progress(done, total) after each batch (it may raise to
    cancel). threads: CPU threads (0: the library policy). check_memory: refuse first (MemoryLimitError) when the
    machine lacks the memory (memory.stylize_host_bytes). Raises FramesError / GuideError / ConfigError on bad input.
    """
    check_image_batch("frames", frames)
    if check_memory:
        t, h, w = frames.shape[:3]
        needed = memory.stylize_host_bytes(model.config, t, h, w, batch_size, tile,
                                           on_gpu=resolve_device(device).type in ("cuda", "xpu"))
        memory.check_host_memory(needed, f"stylizing {t} frames of {w}x{h} ({batch_size} at a time)", STYLIZE_FIXES)
    x = model_inputs(model, frames, guides)
    first = resolve_device(device)

    def run(dev: torch.device) -> torch.Tensor:  # on `first`, or on the CPU when it lacks an operation
        out = torch.empty(frames.shape[0], frames.shape[1], frames.shape[2], 3)
        done = 0
        options = StylizeOptions(batch_size, tile, dev, precision if dev == first else cpu_precision(precision, dev),
                                 threads)
        for start, chunk in stylize_chunks(model, x, options):
            out[start:start + chunk.shape[0]] = chunk
            done += chunk.shape[0]
            if on_progress is not None:
                on_progress(done, frames.shape[0])
        return out
    return on_device_or_cpu(run, first, "stylizing")


def stylize_chunks(model: StyleModel, x: torch.Tensor,
                   options: StylizeOptions = StylizeOptions()) -> Iterator[tuple[int, torch.Tensor]]:
    """Yields (first index, stylized [B, H, W, 3] float32 CPU) for NCHW inputs x from model_inputs()."""
    batch_size, tile, device, precision, threads = (options.batch_size, options.tile, options.device,
                                                    options.precision, options.threads)
    if batch_size < 1:
        raise ConfigError(f"batch: expected at least 1 frame per batch, received {batch_size}.")
    dev = resolve_device(device)
    dtype = resolve_precision(precision, dev, training=False)
    stride = model.config.stride
    margin = _round_up(receptive_radius(model.config), stride)
    tile = _round_up(tile or default_tile(model.config), stride)
    if tile - 2 * margin - BLEND < stride:
        raise ConfigError(f"tile: expected at least {2 * margin + BLEND + stride} pixels for this model (it needs "
                          f"{margin} pixels of context on each side of a tile), received {tile}.")
    area = min(tile * tile, _round_up(x.shape[-2], stride) * _round_up(x.shape[-1], stride))
    per_pass = max(1, min(batch_size, BATCH_PIXELS // area))
    threads = cpu_threads(threads) if dev.type == "cpu" else contextlib.nullcontext()
    with _generator_on(model, dev) as net, torch.no_grad(), threads:
        for start in range(0, x.shape[0], per_pass):
            batch = x[start:start + per_pass]
            yield start, _run(net, batch, stride, tile, margin, dev, dtype).permute(0, 2, 3, 1).contiguous()


@contextlib.contextmanager
def _generator_on(model: StyleModel, device: torch.device):
    """The generator in eval mode on `device` (channels-last on CUDA), moved back where it was afterwards so
    that no GPU memory stays held between runs."""
    net = model.generator.eval()
    home = next(net.parameters()).device
    if home == device:
        yield net
        return
    net.to(device, memory_format=torch.channels_last if device.type == "cuda" else torch.contiguous_format)
    try:
        yield net
    finally:
        net.to(home, memory_format=torch.contiguous_format)
        empty_cache(device)


def _run(net, x: torch.Tensor, stride: int, tile: int, margin: int, device, dtype) -> torch.Tensor:
    """Frames x [B, C, H, W] CPU -> stylized [B, 3, H, W] float32 CPU, clamped to 0..1."""
    b, _, h, w = x.shape
    padded = _pad_to(x, stride)
    hp, wp = padded.shape[-2:]
    if hp <= tile and wp <= tile:
        return _forward(net, padded, device, dtype)[..., :h, :w].clamp_(0, 1)
    out = torch.zeros(b, 3, hp, wp)
    weight = torch.zeros(1, 1, hp, wp)
    for y0, y1, cy0, cy1 in _spans(hp, tile, margin, stride):
        for x0, x1, cx0, cx1 in _spans(wp, tile, margin, stride):
            y = _forward(net, padded[..., cy0:cy1, cx0:cx1], device, dtype)[..., y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
            ramp = _ramp(y0, y1, hp)[:, None] * _ramp(x0, x1, wp)[None, :]
            out[..., y0:y1, x0:x1] += y * ramp
            weight[..., y0:y1, x0:x1] += ramp
    return (out / weight)[..., :h, :w].clamp_(0, 1)


def _forward(net, x: torch.Tensor, device, dtype) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(device, dtype):
        y = net(x)
    return y.float().cpu()


def _spans(length: int, tile: int, margin: int, stride: int) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis: (core start, core end, crop start, crop end); cores overlap by BLEND pixels,
    crops add `margin` of context; every start is a multiple of `stride` so the network sees the same grid."""
    core = tile - 2 * margin
    step = _round_down(core - BLEND, stride)
    spans, start = [], 0
    while True:
        end = min(start + core, length)
        spans.append((start, end, max(0, start - margin), min(length, end + margin)))
        if end >= length:
            return spans
        start += step


def _ramp(start: int, end: int, length: int) -> torch.Tensor:
    """Blend weights over a core: rising over BLEND pixels at an edge inside the frame, flat at frame borders."""
    n = end - start
    up = torch.clamp((torch.arange(n) + 0.5) / BLEND, max=1.0) if start > 0 else torch.ones(n)
    down = torch.clamp((n - torch.arange(n) - 0.5) / BLEND, max=1.0) if end < length else torch.ones(n)
    return torch.minimum(up, down)


def _pad_to(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Pad bottom/right to a multiple of stride by reflection (replication when the frame is tiny)."""
    h, w = x.shape[-2:]
    ph, pw = -h % stride, -w % stride
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _round_down(value: int, multiple: int) -> int:
    return value // multiple * multiple
