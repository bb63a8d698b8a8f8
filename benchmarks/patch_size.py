"""The training patch size of the U-Net presets on the real quality clips (bench.py's "quality" section), at equal
CPU budgets: a budget of S seconds is the number of steps one thread does in S seconds at that patch size, measured
in this run (so the result does not depend on what else the machine does while the clips train).

    taskset -c 1 .venv/bin/python -m benchmarks.patch_size --patches 48,32 --budgets 30,120 --seeds 0,1,2
    taskset -c 1 .venv/bin/python -m benchmarks.patch_size --patches 0 --priors none,auto --seeds 0,1,2

Patch 0: the preset's schedule (config.SMALL_PATCH_STEPS steps on SMALL_PATCH patches at SMALL_PATCH_LR_SCALE of
the rate, then 48). README's rows of the same schedule at the full rate were measured at commit 70051bc.

Prints a JSON row per run and a table; rows are appended to benchmarks/results/patch-size.jsonl.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from benchmarks.common import RESULTS, load_clip, random_clip, scheduled_steps, train_and_stylize
from patch_training import (ColorLUT, GuideSpec, TrainConfig, compute_flow, make_keyframes, psnr, ssim,
                            temporal_instability, train_style_model)
from patch_training.config import SMALL_PATCH

CLIPS = ["sample", "api_google_gemini_omni_flash_video_edit"]
ROWS = RESULTS / "patch-size.jsonl"


def config(patch: int, steps: int, seed: int = 0, prior: str = "none") -> TrainConfig:
    return TrainConfig(steps=steps, seconds=0, patch_size=patch, threads=1, preview_every_s=0, seed=seed, prior=prior)


def rate(patch: int, steps: int = 80) -> float:
    """Training steps/s at `patch` on one thread (synthetic 350x350 frames and default guides, as the clips)."""
    frames, keyframes = random_clip(3, 350, 350)
    spec = GuideSpec()
    kwargs = dict(guides=torch.rand(3, 350, 350, spec.channels, generator=torch.Generator().manual_seed(1)),
                  guide_spec=spec.to_dict())
    train_style_model(frames, keyframes, config(patch, 3), **kwargs)  # warm-up
    model = train_style_model(frames, keyframes, config(patch, steps), **kwargs)
    return model.summary.steps / model.summary.seconds


def run(clip: str, patch: int, steps: int, seed: int, prior: str = "none") -> dict:
    frames, truth, keys = load_clip(clip)
    keyframes, _ = make_keyframes(keys, truth[keys], frames=frames)
    others = [i for i in range(len(frames)) if i not in keys]
    trained = train_and_stylize(frames, keyframes, config(patch, steps, seed, prior), GuideSpec(), threads=1)
    result = trained.result
    motion = compute_flow(frames, "balanced", 1)
    lut = ColorLUT(frames[keys], truth[keys])(frames)
    return {"clip": clip, "patch": patch, "seed": seed, "prior": prior, "steps": steps, "train_cpu_s": trained.train_s,
            "psnr": psnr(result[others], truth[others]), "ssim": ssim(result[others], truth[others]),
            "instability": temporal_instability(result, motion) / temporal_instability(truth, motion),
            "lut_psnr": psnr(lut[others], truth[others]), "lut_ssim": ssim(lut[others], truth[others])}


def steps(patch: int, budget: float, rates: dict[int, float]) -> int:
    """Steps in `budget` seconds of one core; patch 0: the preset's schedule (SMALL_PATCH_STEPS small ones first)."""
    if patch:
        return max(1, round(rates[patch] * budget))
    return scheduled_steps(budget, rates[SMALL_PATCH], rates[48])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patches", default="48,32")
    parser.add_argument("--budgets", default="30,120", help="seconds of one core, comma-separated")
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--seeds", default="0", help="training seeds, comma-separated (the real clips vary by seed)")
    parser.add_argument("--priors", default="none", help="starting weights, comma-separated: none (random), auto "
                        "(the shipped prior)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    patches = [int(p) for p in args.patches.split(",")]
    rates = {p: rate(p) for p in sorted(set(patches) | ({SMALL_PATCH, 48} if 0 in patches else set())) if p}
    print(f"[{time.strftime('%H:%M:%S')} steps/s {rates}]", file=sys.stderr, flush=True)
    rows = []
    for clip in args.clips.split(","):
        for budget in [float(b) for b in args.budgets.split(",")]:
            for seed, p, prior in [(seed, p, prior) for seed in map(int, args.seeds.split(",")) for p in patches
                                   for prior in args.priors.split(",")]:
                row = {**run(clip, p, steps(p, budget, rates), seed, prior), "budget_s": budget}
                print(json.dumps(row), flush=True)
                ROWS.parent.mkdir(parents=True, exist_ok=True)
                with ROWS.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                rows.append(row)
    print("| clip | budget | patch | prior | seed | steps | PSNR | SSIM | instability vs truth | LUT PSNR / SSIM |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip'][:24]} | {r['budget_s']:g} s | {r['patch']} | {r['prior']} | {r['seed']} | {r['steps']} | {r['psnr']:.2f} | "
              f"{r['ssim']:.3f} | {r['instability']:.2f}x | {r['lut_psnr']:.2f} / {r['lut_ssim']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
