"""Train a shipped prior (patch_training/model/priors/): starting weights for the cold starts of a network and guide set.

    taskset -c 1 .venv/bin/python -m benchmarks.train_prior --minutes 15     # writes the prior (refuses to replace)
    taskset -c 1 .venv/bin/python -m benchmarks.train_prior --quick          # checks the script, writes nothing
    taskset -c 1 .venv/bin/python -m benchmarks.train_prior --guides gauss,edges,page --minutes 15  # the page prior
    taskset -c 1 .venv/bin/python -m benchmarks.train_prior --preset balanced --minutes 12          # balanced's

Data, all shippable and none that a benchmark scores: the footage of template clips of the MIT-licensed
`comfyui-workflow-templates-media-video` wheel (benchmarks/clips.py; the two clips the quality benchmarks use,
both sides, are excluded), 30 frames each at 256x256, three keyframes (first, middle, last), stylized by random
compositions of generic filters written here (colour grading, posterizing, smoothing, lines on edges, paper
grain or dot screens fixed on the page, monochrome). None of them is a filter of benchmarks/styles.py.

Training: Reptile (Nichol et al. 2018), the simplest meta-learning rule: for each round, a random clip and a random
style; the library's own training (trainer.train_style_model, --preset and --guides, their schedule) runs
`--inner` steps from the current prior; the prior then moves a fraction of the way towards the result (1 at the
start, annealed to 0.1). The result is weights that adapt fast to a new style, not weights of one style.
Deterministic for a given --seed and step count (`--minutes` is turned into rounds at the start).

`--guides` names the guide set (the default: the default guides). With the page guide, which `guides: auto`
chooses for styles whose texture stays on the page, every round's style has such a texture (paper grain, a dot
screen or a line screen whose density follows the tone, all fixed in image space), and the page guide is
computed from each round's stylized keyframes (it is made of them).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.clips import PAIRS, decode_webp, find_wheel, wheel_zip
from benchmarks.common import luma
from patch_training import (GuideSpec, TrainConfig, make_guide_set, make_keyframes, parse_guides, save_model,
                            train_style_model)
from patch_training.guides import DEFAULT_GUIDES
from patch_training.guides.guide_set import training_inputs
from patch_training.config import DEFAULT_PRESET, PRESETS
from patch_training.model.prior import SHIPPED

SIZE, FRAMES = 256, 30
# Training steps per second of a round on one core of a 2-core AMD EPYC (fast: benchmarks/styles.py's calibration of
# the small-patch start; balanced, reference: in proportion to fast, 100 steps of each on random frames), to turn
# --minutes into a fixed round count.
RATES = {"fast": 27.0, "balanced": 22.0, "reference": 2.0}


def clip_names(wheel: Path) -> list[str]:
    """Template clips whose footage the prior may learn from: every clip but the benchmarks' pairs."""
    names = sorted(n.rsplit("/", 1)[-1] for n in wheel_zip(wheel).namelist() if n.endswith(".webp"))
    banned = {p.source for p in PAIRS.values()} | {p.stylized for p in PAIRS.values()}
    return [n for n in names if n not in banned]


def load_clip(wheel: Path, name: str) -> torch.Tensor | None:
    frames = decode_webp(wheel, name)
    if len(frames) < FRAMES:
        return None
    x = torch.from_numpy(np.stack(frames[:FRAMES])).float().div(255).permute(0, 3, 1, 2)
    return F.interpolate(x, size=(SIZE, SIZE), mode="area").permute(0, 2, 3, 1).clamp(0, 1).contiguous()


# ------------------------------------------------------------------------------------------------ styles

def random_style(rng: np.random.Generator, h: int, w: int, page_fixed: bool = False):
    """A random composition of generic filters, as a function [H, W, 3] float32 -> [H, W, 3]: the same style
    (the same page texture) for every keyframe. page_fixed: always a texture fixed on the page."""
    mix = np.eye(3, dtype=np.float32) * rng.uniform(0.3, 1.0) + rng.uniform(-0.3, 0.5, (3, 3)).astype(np.float32)
    shift = rng.uniform(-0.15, 0.2, 3).astype(np.float32)
    gamma = float(rng.uniform(0.6, 1.6))
    mono = rng.random() < 0.3
    tint = rng.uniform(0.3, 1.0, 3).astype(np.float32)
    levels = int(rng.integers(3, 9)) if rng.random() < 0.5 else 0
    smooth = float(rng.uniform(1.0, 4.0)) if rng.random() < 0.5 else 0.0
    lines = rng.random() < 0.6
    line_colour = rng.uniform(0.0, 0.4, 3).astype(np.float32) if rng.random() < 0.8 else rng.uniform(0.6, 1, 3)
    line_gain = float(rng.uniform(2.0, 8.0))
    if page_fixed:
        page = rng.choice(["grain", "dots", "lines"], p=[0.3, 0.3, 0.4])
    else:
        page = rng.choice(["none", "grain", "dots"], p=[0.4, 0.35, 0.25])
    grain = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), float(rng.uniform(0.5, 3)))
    grain = 1 + grain / (grain.std() + 1e-6) * float(rng.uniform(0.02, 0.08))
    period, angle = float(rng.uniform(4, 9)), float(rng.uniform(0, np.pi))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = xx * np.cos(angle) + yy * np.sin(angle), -xx * np.sin(angle) + yy * np.cos(angle)
    dots = (np.cos(2 * np.pi * u / period) + np.cos(2 * np.pi * v / period)) / 4 + 0.5  # 0..1, fixed on the page

    def apply(image: np.ndarray) -> np.ndarray:
        x = image
        if smooth:
            x = cv2.bilateralFilter(x, -1, 0.1, smooth)
        x = np.clip(x @ mix.T + shift, 0, 1) ** gamma
        if mono:
            x = luma(x)[..., None] * tint
        if levels:
            x = np.round(x * (levels - 1)) / (levels - 1)
        if page == "grain":
            x = x * grain[..., None]
        elif page == "dots":
            x = x * (dots < luma(x) * 1.1 + 0.05)[..., None] * 0.8 + x * 0.2
        elif page == "lines":  # a line screen: darker tones, wider lines
            screen = np.cos(2 * np.pi * u / period) / 2 + 0.5
            x = x * (screen < luma(x) * 1.1 + 0.05)[..., None] * 0.85 + x * 0.15
        if lines:
            g = cv2.GaussianBlur(luma(image), (0, 0), 1.0)
            edge = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
            a = np.clip(edge * line_gain - 0.5, 0, 1)[..., None]
            x = x * (1 - a) + line_colour * a
        return np.clip(x, 0, 1).astype(np.float32)
    return apply


# ------------------------------------------------------------------------------------------------ training

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0, help="training time, turned into rounds")
    parser.add_argument("--inner", type=int, default=300, help="training steps per round")
    parser.add_argument("--clips", type=int, default=16, help="how many template clips (spread over the list)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--guides", default=",".join(DEFAULT_GUIDES), help="the guide set the prior is for")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS), help="the network")
    parser.add_argument("--out", help="default: priors/<preset>-<guides>.safetensors in the library")
    parser.add_argument("--quick", action="store_true", help="tiny run, nothing written")
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = GuideSpec(guides=parse_guides(args.guides))
    out = Path(args.out) if args.out else SHIPPED.with_name(f"{args.preset}-{'-'.join(spec.guides)}.safetensors")
    page_fixed = "page" in spec.guides
    if out.exists() and not args.quick:
        print(f"{out} exists: remove it first (it is the shipped prior) or give --out.", file=sys.stderr)
        return 2
    wheel = find_wheel()
    names = clip_names(wheel)
    picked = [names[round(i * (len(names) - 1) / max(args.clips - 1, 1))] for i in range(args.clips)]
    clips = []
    for name in dict.fromkeys(picked):
        frames = load_clip(wheel, name)
        if frames is None:
            continue
        keys = [0, FRAMES // 2, FRAMES - 1]
        plain = make_keyframes(keys, frames[keys], frames=frames)[0]
        clips.append((name, frames, keys, None if spec.needs_keyframe_images else make_guide_set(frames, spec, plain)))
        if args.quick and len(clips) == 2:
            break
    print(f"{len(clips)} clips: {[c[0] for c in clips]}", flush=True)
    rng = np.random.default_rng(args.seed)
    inner = 20 if args.quick else args.inner
    rate = RATES[args.preset]  # steps/s of a round on one core, to turn --minutes into rounds
    rounds = 2 if args.quick else max(1, round(args.minutes * 60 * rate / inner))
    prior = None
    with tempfile.TemporaryDirectory() as tmp:
        start_file = Path(tmp) / "prior.safetensors"
        start = time.time()
        for r in range(rounds):
            name, frames, keys, guide_set = clips[int(rng.integers(len(clips)))]
            style = random_style(rng, SIZE, SIZE, page_fixed)
            styled = torch.from_numpy(np.stack([style(frames[k].numpy()) for k in keys]))
            keyframes = make_keyframes(keys, styled, frames=frames)[0]
            if guide_set is None:  # guides made of the stylized keyframes (page): this round's
                guide_set = make_guide_set(frames, spec, keyframes)
            config = TrainConfig(preset=args.preset, steps=inner, seconds=0, threads=1, preview_every_s=0, seed=args.seed + r,
                                 prior="none" if prior is None else str(start_file))
            model = train_style_model(frames, keyframes, config, **training_inputs(guide_set, keyframes))
            if prior is None:
                prior = model
            else:
                eps = 1.0 - 0.9 * r / max(rounds - 1, 1)
                with torch.no_grad():
                    new = model.generator.state_dict()
                    for k, v in prior.generator.state_dict().items():
                        if v.is_floating_point():
                            v.add_(eps * (new[k] - v))
            save_model(prior, start_file, overwrite=True)
            if r % 10 == 0 or r == rounds - 1:
                print(f"round {r + 1}/{rounds} ({name}) {time.time() - start:.0f} s, last losses "
                      f"{ {k: round(v, 4) for k, v in model.summary.final_losses.items()} }", flush=True)
        prior.summary = {**prior.summary.to_dict(), "prior_rounds": rounds, "prior_inner_steps": inner,
                         "prior_clips": [c[0] for c in clips], "prior_seed": args.seed}
        if not args.quick:
            out.parent.mkdir(parents=True, exist_ok=True)
            save_model(prior, out)
            print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
