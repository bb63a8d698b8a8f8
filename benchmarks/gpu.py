"""The GPU check, for a session lent a GPU (never needed by CI): under 5 minutes on one CUDA GPU.

    python -m benchmarks.gpu [--out benchmarks/results/gpu.json] [--device cuda] [--quick]

Measures, on random frames (speed does not depend on the content):
- training steps/s of each preset at each precision (fp32, bf16, fp16 where the GPU runs them), batch 16 of 48x48
  patches (the reference: 40 of 32x32), with the peak CUDA memory of each run;
- stylize frames/s at 1080p and 4K of the default network (fast, the default guides' 5 input channels) in fp32,
  fp16 and bf16, channels-last (what tiled inference does on CUDA), with the peak memory and the memory estimate
  (memory.inference_bytes) it is asked for from ComfyUI;
- the hand-off: with a resident block of GPU memory standing for a diffusion model (--resident-gb, default 40), a
  training run and a 4K stylization still fit and give the GPU back (memory allocated after = before).
Prints a table and writes JSON. `--device cpu --quick` runs the same code on a CPU in seconds (a smoke test).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from patch_training import PRESETS, Keyframes, StyleModel, TrainConfig, train_style_model
from patch_training.memory import inference_bytes, training_bytes
from patch_training.model.networks import build_generator
from patch_training.stylize import stylize

SIZES = {"1080p": (1080, 1920), "4K": (2160, 3840)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None


def training_rate(preset: str, precision: str, device: torch.device, seconds: float) -> dict:
    """Steps/s of `preset` at `precision` for `seconds` of training (after a warm-up of a second)."""
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(3, 256, 256, 3, generator=g)
    keyframes = Keyframes((0, 2), torch.rand(2, 256, 256, 3, generator=g))
    guides = torch.rand(3, 256, 256, 2, generator=g)
    base = dict(preset=preset, precision=precision, device=device.type, prior="none", preview_every_s=0.0)
    train_style_model(frames, keyframes, TrainConfig(seconds=1.0, **base), guides=guides)  # warm-up (kernels)
    _peak_reset(device)
    model = train_style_model(frames, keyframes, TrainConfig(seconds=seconds, **base), guides=guides)
    config = TrainConfig(**base)
    estimate = training_bytes(config.generator(5), 2, 256, 256, config.resolved_batch(), config.resolved_patch())
    return {"preset": preset, "precision": precision, "steps_per_s": model.summary.steps / model.summary.seconds,
            "peak_mb": _peak_mb(device), "estimate_mb": estimate / 2**20}


def stylize_rate(size: str, precision: str, device: torch.device, frames_count: int) -> dict:
    """Frames/s of the default network stylizing `frames_count` random frames of `size` at `precision`."""
    h, w = SIZES[size]
    config = PRESETS["fast"].with_inputs(5)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = StyleModel(build_generator(config), config, {"names": ["bench"]})
    frames = torch.rand(frames_count, h, w, 3)
    guides = torch.rand(frames_count, h, w, 2)
    stylize(model, frames[:1], guides[:1], batch_size=1, device=device, precision=precision)  # warm-up
    _peak_reset(device)
    _sync(device)
    start = time.perf_counter()
    stylize(model, frames, guides, batch_size=1, device=device, precision=precision)
    _sync(device)
    seconds = time.perf_counter() - start
    return {"size": size, "precision": precision, "frames_per_s": frames_count / seconds, "peak_mb": _peak_mb(device),
            "estimate_mb": inference_bytes(config, 1, h, w, 1, 0, 4 if precision == "fp32" else 2) / 2**20}


def hand_off(device: torch.device, resident_gb: float) -> dict:
    """With `resident_gb` of GPU memory held (a diffusion model's stand-in), training and a 4K stylization run,
    and the memory allocated afterwards is what it was before (nothing of patch-toon stays on the GPU)."""
    if device.type != "cuda":
        return {"skipped": "no CUDA device"}
    free, total = torch.cuda.mem_get_info()
    held = torch.empty(int(min(resident_gb * 2**30, free * 0.8)), dtype=torch.uint8, device=device)
    before = torch.cuda.memory_allocated()
    result = {"resident_gb": held.numel() / 2**30, "gpu_total_gb": total / 2**30,
              "training": training_rate("fast", "auto", device, 5.0),
              "stylize_4k": stylize_rate("4K", "auto", device, 2)}
    result["allocated_after_minus_before_mb"] = (torch.cuda.memory_allocated() - before) / 2**20
    del held
    torch.cuda.empty_cache()
    return result


def precisions(device: torch.device) -> list[str]:
    if device.type == "cuda":
        return ["fp32", "bf16", "fp16"] if torch.cuda.is_bf16_supported() else ["fp32", "fp16"]
    return ["fp32", "bf16"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for a smoke test")
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the script, measures nothing")
    parser.add_argument("--resident-gb", type=float, default=40.0, help="GPU memory held during the hand-off")
    parser.add_argument("--out", default="benchmarks/results/gpu.json", help="JSON results file")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("benchmarks.gpu: this torch sees no CUDA GPU; run it where one is lent (or --device cpu "
                         "--quick to check the script)")
    seconds, frames = (0.5, 1) if args.quick else (8.0, 8)
    sizes = ["1080p"] if args.quick else list(SIZES)
    results = {"device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
               "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
               "training": [training_rate(p, q, device, seconds) for p in ("fast", "balanced", "reference")
                            for q in precisions(device)],
               "stylize": [stylize_rate(s, q, device, frames) for s in sizes for q in ["fp32", *precisions(device)[1:]]],
               "hand_off": hand_off(device, args.resident_gb)}
    print(f"{results['device']}, torch {results['torch']}")
    print("training   preset      precision  steps/s  peak MB  estimate MB")
    for r in results["training"]:
        print(f"           {r['preset']:<11} {r['precision']:<9} {r['steps_per_s']:8.1f} {r['peak_mb'] or 0:8.0f} "
              f"{r['estimate_mb']:10.0f}")
    print("stylize    size        precision  frames/s peak MB  estimate MB")
    for r in results["stylize"]:
        print(f"           {r['size']:<11} {r['precision']:<9} {r['frames_per_s']:8.2f} {r['peak_mb'] or 0:8.0f} "
              f"{r['estimate_mb']:10.0f}")
    print("hand-off  ", json.dumps(results["hand_off"]))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
