"""Memory pre-flight: the host-memory estimate (patch_training.memory) against the real peak, case by case.

Each case runs in a fresh Python: its peak (VmHWM) minus its size before the work (VmRSS after the imports and
the model) is the memory the work took, which the estimate must not under-estimate by more than 20 %.
Training: a 4-frame clip with 2 keyframes, 2 steps (the peak is reached in the first), 'fast' preset, RGB only
and with the default guides (gauss, edges). Stylizing: 4 frames at once, batch 4, default tile, RGB model,
output held (as ComfyUI's Stylize Frames). One torch thread.

    .venv/bin/python -m benchmarks.memory_preflight            # all cases, about 4 minutes on 2 cores
    .venv/bin/python -m benchmarks.memory_preflight --quick    # the small ones

Prints a Markdown table and writes it to its section of benchmarks/RELIABILITY.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import REPO, write_section

TRAIN_SIDES = (256, 512, 1024, 2048, 4096)
STYLIZE_SIZES = ((350, 350), (720, 1280), (1080, 1920), (1440, 2560), (2160, 3840))
FRAMES, KEYFRAMES = 4, 2


def cases(quick: bool) -> list[tuple[str, str, int, int]]:
    train = [("train", guides, side, side) for side in TRAIN_SIDES[:2 if quick else None] for guides in ("rgb", "guided")]
    return train + [("stylize", "rgb", h, w) for h, w in STYLIZE_SIZES[:2 if quick else None]]


def status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def child(kind: str, guides: str, h: int, w: int) -> dict:
    """One case, in this (fresh) process: the estimate and the measured growth, in bytes."""
    import torch

    from patch_training import PRESETS, GuideSpec, StyleModel, TrainConfig, fit_style, make_keyframes
    from patch_training.memory import stylize_host_bytes, training_host_bytes
    from patch_training.model.networks import build_generator
    from patch_training.stylize import stylize

    torch.set_num_threads(1)
    config = PRESETS["fast"]
    model = StyleModel(build_generator(config), config)
    spec = GuideSpec() if guides == "guided" else None
    baseline = status("VmRSS")
    if kind == "train":
        channels = spec.channels if spec else 0
        estimate = training_host_bytes(config.with_inputs(3 + channels), FRAMES, h, w, KEYFRAMES, 16, 48, channels,
                                       frames_held=False)
        frames = torch.rand(FRAMES, h, w, 3)
        keyframes, _ = make_keyframes([0, FRAMES - 1], 1 - frames[[0, FRAMES - 1]], frames=frames)
        fit_style(frames, keyframes, TrainConfig(steps=2, seconds=0, threads=1), spec)
    else:
        estimate = stylize_host_bytes(config, FRAMES, h, w, 4, 0, frames_held=False, output=True)
        stylize(model, torch.rand(FRAMES, h, w, 3), batch_size=4, threads=1)
    return {"estimate": estimate, "measured": status("VmHWM") - baseline}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    rows = ["| task | guides | frame size | estimate MB | measured peak growth MB | estimate / measured |",
            "|---|---|---|---|---|---|"]
    worst = float("inf")
    for kind, guides, h, w in cases(args.quick):
        code = f"import benchmarks.memory_preflight as m, json; print(json.dumps(m.child({kind!r}, {guides!r}, {h}, {w})))"
        run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=1800)
        if run.returncode != 0:
            raise SystemExit(f"{kind} {guides} {w}x{h} failed:\n{run.stderr[-2000:]}")
        result = json.loads(run.stdout.strip().splitlines()[-1])
        ratio = result["estimate"] / result["measured"]
        worst = min(worst, ratio)
        what = f"train ({FRAMES} frames, {KEYFRAMES} keyframes)" if kind == "train" else f"stylize ({FRAMES} frames)"
        rows.append(f"| {what} | {'gauss, edges' if guides == 'guided' else 'RGB'} | {w}x{h} | "
                    f"{result['estimate'] / 2**20:.0f} | {result['measured'] / 2**20:.0f} | {ratio:.2f} |")
        print(rows[-1], flush=True)
    rows.append(f"\nLowest estimate / measured: {worst:.2f} (target: at least 0.80).")
    write_section("Memory pre-flight: estimate vs measured peak", [
        f"{time.strftime('%Y-%m-%d')}, `python -m benchmarks.memory_preflight`: each case in a fresh process, the "
        f"growth of VmHWM over VmRSS before the work; 'fast' preset, 1 torch thread, {platform.machine()}, "
        f"{os.cpu_count()} cores.", "", *rows])


if __name__ == "__main__":
    main()
