"""Where and how tensors are computed: device, precision (autocast), CPU thread count."""
from __future__ import annotations

import contextlib
import functools
import os

import torch

from .errors import ConfigError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu. Raises ConfigError for 'cuda' without a GPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: 'cuda' was asked for, but this torch build sees no CUDA GPU "
                          f"(torch {torch.__version__}). Use --device cpu or auto.")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ConfigError(f"device: expected 'auto', 'cpu' or 'cuda', received {device!r}.")
    return torch.device(device)


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when oneDNN has native bfloat16 kernels on this CPU (AVX-512 BF16 / AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device, training: bool) -> torch.dtype:
    """The autocast dtype for `precision` ('auto', 'fp32', 'bf16', 'fp16') on `device`.

    auto: CPU with native bf16 -> bfloat16 (measured 1.7-2x faster, same quality: benchmarks/RESULTS.md);
    CUDA -> bfloat16 for training where supported, float16 for inference; otherwise float32.
    """
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type == "cpu":
            raise ConfigError("precision: fp16 is for GPUs; on the CPU use bf16 or fp32.")
        return torch.float16
    if precision != "auto":
        raise ConfigError(f"precision: expected auto, fp32, bf16 or fp16, received {precision!r}.")
    if device.type == "cuda":
        if training:
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def autocast(device: torch.device, dtype: torch.dtype):
    """Autocast to `dtype` on `device`, or nothing for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def default_threads() -> int:
    """The library's CPU thread policy: one intra-op thread on machines of up to 4 cores, half the cores above.

    Measured (benchmarks/RESULTS.md): on a 2-core CPU with anything else running (a ComfyUI server, a browser),
    2 threads trained ~20x slower than 1 (spin-waiting on a taken core), while on a quiet CPU 2 threads
    gained far less than that. One thread loses little when quiet and never falls off that cliff.
    """
    cores = os.cpu_count() or 1
    return 1 if cores <= 4 else cores // 2


@contextlib.contextmanager
def cpu_threads(threads: int):
    """Run with `threads` torch intra-op threads (0: the library policy, default_threads()), then restore."""
    old = torch.get_num_threads()
    threads = threads or default_threads()
    if threads != old:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)
