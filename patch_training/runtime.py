"""Where and how tensors are computed: device, precision (autocast), CPU thread count."""
from __future__ import annotations

import contextlib
import functools
import logging
import os
from typing import Callable, TypeVar

import torch

from .errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")


GPU_TYPES = ("cuda", "xpu", "mps")  # the GPUs the library runs on: NVIDIA/AMD (CUDA/ROCm), Intel, Apple


def gpu_available(kind: str) -> bool:
    """True when this torch build sees a GPU of `kind` ('cuda', 'xpu' or 'mps')."""
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "xpu":
        return hasattr(torch, "xpu") and torch.xpu.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return False


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> the first of cuda, xpu, mps that torch sees, else cpu.

    Raises ConfigError for a GPU kind ('cuda', 'xpu', 'mps', with an optional ':index') that torch does not see,
    and for any other name.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device(next((kind for kind in GPU_TYPES if gpu_available(kind)), "cpu"))
    kind = device.split(":")[0]
    if kind in GPU_TYPES and not gpu_available(kind):
        raise ConfigError(f"device: {device!r} was asked for, but this torch build sees no {_GPU_NAMES[kind]} "
                          f"(torch {torch.__version__}{_why_not(kind)}). Use --device cpu or auto.")
    if device != "cpu" and kind not in GPU_TYPES:
        raise ConfigError(f"device: expected 'auto', 'cpu', 'cuda', 'xpu' or 'mps', received {device!r}.")
    return torch.device(device)


_GPU_NAMES = {"cuda": "CUDA GPU", "xpu": "Intel GPU (xpu)", "mps": "Apple GPU (mps)"}


def _why_not(kind: str) -> str:
    if kind == "mps":
        built = torch.backends.mps.is_built()
        return ", built with MPS: macOS 12.3 or later on an Apple GPU is needed" if built else ", built without MPS"
    if kind == "xpu" and not hasattr(torch, "xpu"):
        return ", built without xpu"
    return ""


def empty_cache(device: torch.device) -> None:
    """Gives the cached memory of a GPU back to the driver after a run (nothing on the CPU)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "xpu":
        torch.xpu.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


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
    CUDA -> bfloat16 for training where supported, float16 for inference; Intel xpu -> bfloat16 (its native
    type); Apple mps -> float32 for training (fp16 without loss scaling risks underflow, bf16 needs macOS 14),
    float16 for inference; otherwise float32. Raises ConfigError for fp16 on the CPU, bf16 where the GPU lacks it.
    """
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        if device.type in ("mps", "xpu") and not gpu_has_bf16(device.type):
            raise ConfigError(f"precision: bf16 is not supported on this {_GPU_NAMES[device.type]} "
                              f"(torch {torch.__version__}); use fp16, fp32 or auto.")
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
    if device.type == "xpu":
        return torch.bfloat16 if gpu_has_bf16("xpu") else torch.float32 if training else torch.float16
    if device.type == "mps":
        return torch.float32 if training else torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


@functools.cache
def gpu_has_bf16(kind: str) -> bool:
    """True when bfloat16 works on the xpu or mps GPU (mps: macOS 14 or later; tried on a small tensor)."""
    if kind == "xpu":
        check = getattr(torch.xpu, "is_bf16_supported", None)
        return bool(check()) if check is not None else True
    try:
        (torch.ones(2, device=kind, dtype=torch.bfloat16) * 2).cpu()
        return True
    except (NotImplementedError, RuntimeError, TypeError):
        return False


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


# What torch says when an operation has no kernel on a GPU kind (a NotImplementedError on mps and xpu; a
# TypeError or RuntimeError naming the device for a dtype it lacks, such as float64 on mps).
def cpu_precision(precision: str, device: torch.device) -> str:
    """`precision` for a run on `device`, with fp16 (a GPU's) read as auto on the CPU: a fallback's precision."""
    return "auto" if device.type == "cpu" and precision == "fp16" else precision


def unsupported_on(error: BaseException, device: torch.device) -> bool:
    """True when `error` says that an operation or dtype is not supported on `device` (xpu or mps only)."""
    if device.type not in ("xpu", "mps"):
        return False
    if isinstance(error, NotImplementedError):
        return True
    text = str(error).lower()
    return (isinstance(error, (TypeError, RuntimeError)) and device.type in text and "out of memory" not in text
            and any(word in text for word in ("not implemented", "not supported", "doesn't support",
                                              "does not support", "unsupported", "only supported")))


def on_device_or_cpu(run: Callable[[torch.device], T], device: torch.device, what: str) -> T:
    """run(device); on an xpu or mps GPU that lacks one of its operations, logs why and runs run(cpu) instead.

    `what` names the work for the log ("training" -> "training on the CPU: ..."). CUDA and the CPU never fall
    back: their errors reach the caller as they are.
    """
    try:
        return run(device)
    except (NotImplementedError, TypeError, RuntimeError) as error:
        if not unsupported_on(error, device):
            raise
        hint = " (or set PYTORCH_ENABLE_MPS_FALLBACK=1 to run only that operation on the CPU)" \
            if device.type == "mps" else ""
        log.warning("%s on the CPU: the %s does not support an operation it needs (torch %s: %s). This run "
                    "starts again on the CPU, slower%s.", what, _GPU_NAMES[device.type], torch.__version__,
                    str(error).splitlines()[0][:300], hint)
        return run(torch.device("cpu"))
