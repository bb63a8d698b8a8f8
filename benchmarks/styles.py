"""Style classes benchmark: filter styles with a ground truth on every frame, learned from 3 keyframes.

    taskset -c 1 .venv/bin/python -m benchmarks.styles --budgets 30,120 --variants before   # the "before"
    taskset -c 1 .venv/bin/python -m benchmarks.styles --budgets 30 --variants page,colour_base,lr2e-3,after
    taskset -c 1 .venv/bin/python -m benchmarks.styles --report                              # tables only
    taskset -c 1 .venv/bin/python -m benchmarks.styles --sheets                              # contact sheets
    taskset -c 1 .venv/bin/python -m benchmarks.styles --quick                               # checks the script

Clips: the footage side of two real clips (the bundled sample's frames, the astronaut footage of the data
package's paper-craft pair, benchmarks/clips.py), 30 frames each, area-resized to 256x256. Each is stylized by
three deterministic filters written here (numpy + OpenCV, nothing downloaded), so every frame has a ground truth:

- "hatching" (a page style): monochrome ink cross-hatching on paper. The hatching screen is fixed in image space:
  lines at 45 degrees where the tone (the luminance, equalized over the clip) is below 0.66, crossing lines at -45 degrees below 0.42, horizontal lines
  below 0.2; ink outlines on the content's edges; all over a paper grain that is also fixed on the page. The
  page does not move while the content moves.
- "painterly" (follows the content): edge-preserving smoothing, posterized colour, dark outlines.
- "pencil" (follows the content): graphite sketch whose lines and fine texture come from the content's
  gradients (colour dodge of the blurred negative, plus the luminance's fine detail).

Keyframes: frames 0, T/2 and T-1 (their ground truth); scores (PSNR, SSIM, temporal instability as a ratio to the
ground truth's own, benchmarks/bench.py's measures) on the other frames. Baselines: the colour lookup table fitted
on the keyframes (metrics.ColorLUT); the nearest keyframe copied as is; the nearest keyframe warped along the
optical flow (the 'warp' guide's advection, guides/compute.py, from that keyframe alone).

Budgets are step counts: S seconds = S x the training steps/s of each variant's network (its inputs and residual
base; 150 steps on synthetic frames) measured on one core at the start of the first run (stored in benchmarks/results/styles-rates.json and reused by later runs, so that runs made at
different times train the same steps), so results do not depend on the machine's load. One torch thread.
Every finished row is appended to benchmarks/results/styles-rows.jsonl (later rows of the same clip, style,
variant and budget replace earlier ones); --report prints the tables README quotes from it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.common import RESULTS, SAMPLE, cpu_name, luma, scheduled_steps, train_and_stylize
from patch_training import (ColorLUT, FrameSource, GuideSpec, TrainConfig, compute_flow, compute_guides, make_keyframes,
                            parse_guides, psnr, ssim, temporal_instability, train_style_model)
from patch_training.config import SMALL_PATCH

SIZE, FRAMES = 256, 30
CLIPS = ("sample", "astronaut")
STYLES = ("hatching", "painterly", "pencil")
PAGE_STYLES = ("hatching",)  # the others follow the content: their temporal steadiness must not get worse
ROWS = RESULTS / "styles-rows.jsonl"
RATES = RESULTS / "styles-rates.json"


# ----------------------------------------------------------------------------------------------- clips

def load_footage(name: str, frames: int = FRAMES, size: int = SIZE) -> torch.Tensor:
    """The footage of a benchmark clip, [T, size, size, 3] float32 0..1 (area-resized)."""
    if name == "sample":
        x = FrameSource(SAMPLE / "frames").read_all()
    else:
        from benchmarks.clips import load_pair
        x = load_pair("api_google_gemini_omni_flash_video_edit")[0]
    x = x[:frames].permute(0, 3, 1, 2)
    return F.interpolate(x, size=(size, size), mode="area").permute(0, 2, 3, 1).clamp(0, 1).contiguous()


# ----------------------------------------------------------------------------------------------- styles

def _smoothstep(lo: float, hi: float, v: np.ndarray) -> np.ndarray:
    t = np.clip((v - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


def _lines(u: np.ndarray, period: float, width: float) -> np.ndarray:
    """Anti-aliased ink of parallel lines: 1 on a line of `width` px, every `period` px along coordinate u."""
    d = np.abs((u / period) % 1.0 - 0.5) * period  # distance to the line's centre
    return np.clip(width / 2 + 0.5 - d, 0, 1)


def _edges(gray: np.ndarray, sigma: float) -> np.ndarray:
    g = cv2.GaussianBlur(gray, (0, 0), sigma)
    gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy)


def _paper(h: int, w: int, seed: int = 1234) -> np.ndarray:
    """A paper grain fixed on the page: fine grain plus soft fibres, about 0.86..1."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.7)
    fibres = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 5.0)
    grain = fine / (fine.std() + 1e-6) * 0.025 + fibres / (fibres.std() + 1e-6) * 0.025
    return np.clip(0.94 + grain, 0.8, 1.0)


def _stretched(frames: np.ndarray) -> np.ndarray:
    """The clip with its luminance equalized over all frames (the same tone curve for every frame: dark and
    bright clips get the same spread of tones), colours scaled with it."""
    y = luma(frames)
    levels = np.quantile(y, np.linspace(0, 1, 257))
    equal = np.interp(y, levels, np.linspace(0, 1, 257)).astype(np.float32)
    return np.clip(frames * ((equal + 0.02) / (y + 0.02))[..., None], 0, 1).astype(np.float32)


def hatching(frames: np.ndarray) -> np.ndarray:
    """Ink cross-hatching on paper: the screen and the paper stay fixed on the page. [T, H, W, 3] -> same."""
    t, h, w = frames.shape[:3]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    screens = (  # (tone below which the layer is drawn, its ink)
        (0.66, _lines((xx + yy) / np.sqrt(2), 6.0, 1.5)),
        (0.42, _lines((xx - yy) / np.sqrt(2), 6.0, 1.5)),
        (0.2, _lines(yy + 2.0, 4.0, 1.3)),
    )
    paper = _paper(h, w)[..., None] * np.array([1.0, 0.97, 0.9], np.float32)
    ink_colour = np.array([0.1, 0.09, 0.12], np.float32)
    frames = _stretched(frames)
    out = np.empty_like(frames)
    for i in range(t):
        tone = cv2.GaussianBlur(luma(frames[i]), (0, 0), 1.2)
        blank = np.ones((h, w), np.float32)
        for limit, screen in screens:
            blank *= 1 - screen * _smoothstep(limit + 0.03, limit - 0.03, tone)
        outline = _smoothstep(0.25, 0.45, _edges(luma(frames[i]), 1.2))
        ink = (1 - blank * (1 - outline))[..., None]
        out[i] = paper * (1 - ink) + ink_colour * ink
    return out


def painterly(frames: np.ndarray) -> np.ndarray:
    """Edge-preserving smoothing, posterized colour (6 levels a channel, a little more saturation), outlines."""
    frames = _stretched(frames)
    out = np.empty_like(frames)
    for i in range(frames.shape[0]):
        x = frames[i]
        for _ in range(2):
            x = cv2.bilateralFilter(x, 7, 0.12, 4.0)
        grey = luma(x)[..., None]
        x = np.clip(grey + 1.35 * (x - grey), 0, 1)
        x = np.round(x * 5) / 5
        x = cv2.GaussianBlur(x, (0, 0), 0.6)
        outline = _smoothstep(0.12, 0.25, _edges(luma(frames[i]), 1.2))[..., None]
        out[i] = x * (1 - 0.85 * outline) + 0.05 * outline
    return out


def pencil(frames: np.ndarray) -> np.ndarray:
    """Graphite on white: lines from a colour dodge of the blurred negative, shading and fine strokes from the
    luminance and its fine detail (all from the content: the texture moves with it)."""
    frames = _stretched(frames)
    out = np.empty_like(frames)
    tint = np.array([0.96, 0.96, 0.98], np.float32)
    for i in range(frames.shape[0]):
        gray = luma(frames[i])
        negative = cv2.GaussianBlur(1 - gray, (0, 0), 3.0)
        sketch = np.clip(gray / np.maximum(1 - negative, 1e-3), 0, 1)
        detail = gray - cv2.GaussianBlur(gray, (0, 0), 1.5)
        shade = 0.55 + 0.45 * np.clip(gray * 1.3, 0, 1) ** 0.8
        value = np.clip(sketch * shade + 2.5 * np.minimum(detail, 0), 0, 1)
        out[i] = value[..., None] * tint
    return out


def paper(frames: np.ndarray) -> np.ndarray:
    """Watercolour on a coarse paper fixed on the page: smoothed, slightly posterized colour (follows the content)
    times a strong paper texture (grain and fibres) that stays put while the content moves."""
    t, h, w = frames.shape[:3]
    rng = np.random.default_rng(4321)
    fine = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.0)
    fibres = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 3.0)
    grain = fine / (fine.std() + 1e-6) * 0.07 + fibres / (fibres.std() + 1e-6) * 0.05
    sheet = np.clip(0.9 + grain, 0.6, 1.0)[..., None] * np.array([1.0, 0.98, 0.93], np.float32)
    frames = _stretched(frames)
    out = np.empty_like(frames)
    for i in range(t):
        x = cv2.bilateralFilter(frames[i], 9, 0.15, 5.0)
        x = np.round(x * 7) / 7
        x = cv2.GaussianBlur(x, (0, 0), 1.0)
        out[i] = np.clip((0.25 + 0.75 * x) * sheet, 0, 1)
    return out


# "paper" is measured by benchmarks/auto_guides.py (a page style too); the tables here keep their three classes.
STYLE_FILTERS = {"hatching": hatching, "painterly": painterly, "pencil": pencil, "paper": paper}


def stylized(frames: torch.Tensor, style: str) -> torch.Tensor:
    return torch.from_numpy(STYLE_FILTERS[style](frames.numpy().astype(np.float32)).astype(np.float32))


def keyframe_indices(t: int) -> list[int]:
    return [0, t // 2, t - 1]


# ----------------------------------------------------------------------------------------------- variants

@dataclass(frozen=True)
class Variant:
    """A training setting measured: the guides and TrainConfig fields (all others: TrainConfig's defaults)."""

    label: str
    guides: str
    train: dict = field(default_factory=dict)


# "before": the defaults of today (2026-11-28, before issue 15), spelled out so that the row keeps its meaning.
_BEFORE = {"preset": "fast", "loss": "structure", "learning_rate": 1e-3, "base": "input", "patch_size": 48,
           "prior": "none"}
VARIANTS = {v.label: v for v in (
    Variant("before", "rgb,gauss,edges", _BEFORE),
    Variant("lr 2e-3", "rgb,gauss,edges", {**_BEFORE, "learning_rate": 2e-3}),
    Variant("page guide", "rgb,gauss,edges,page", _BEFORE),
    Variant("colour base", "rgb,gauss,edges", {**_BEFORE, "base": "colour"}),
    Variant("page + colour base", "rgb,gauss,edges,page", {**_BEFORE, "base": "colour"}),
    Variant("colour base + lr 2e-3", "rgb,gauss,edges", {**_BEFORE, "base": "colour", "learning_rate": 2e-3}),
    Variant("page + colour base + lr 2e-3", "rgb,gauss,edges,page", {**_BEFORE, "base": "colour",
                                                                      "learning_rate": 2e-3}),
    # Short budgets: more, cheaper steps (smaller patches or batches) or a larger step.
    Variant("lr 4e-3", "rgb,gauss,edges", {**_BEFORE, "learning_rate": 4e-3}),
    Variant("lr 2e-3 + patch 32", "rgb,gauss,edges", {**_BEFORE, "learning_rate": 2e-3, "patch_size": 32}),
    Variant("lr 2e-3 + batch 8", "rgb,gauss,edges", {**_BEFORE, "learning_rate": 2e-3, "batch_size": 8}),
    Variant("lr 4e-3 + patch 32", "rgb,gauss,edges", {**_BEFORE, "learning_rate": 4e-3, "patch_size": 32}),
    # patch_size 0: the preset's schedule (config.SMALL_PATCH_STEPS steps of SMALL_PATCH patches at
    # SMALL_PATCH_LR_SCALE of the rate, then 48): today's default. ("lr 2e-3 + small patches first" rows were the
    # same schedule at the full rate, commit 70051bc.)
    Variant("small patches first at half lr", "rgb,gauss,edges", {**_BEFORE, "learning_rate": 2e-3, "patch_size": 0}),
    # The same from the shipped prior's weights (patch_training/model/priors/, benchmarks/train_prior.py).
    Variant("shipped prior", "rgb,gauss,edges", {**_BEFORE, "learning_rate": 2e-3, "patch_size": 0, "prior": "auto"}),
    Variant("lr 2e-3 + patch 24", "rgb,gauss,edges", {**_BEFORE, "learning_rate": 2e-3, "patch_size": 24}),
    Variant("lr 2e-3 + patch 32 + batch 8", "rgb,gauss,edges", {**_BEFORE, "learning_rate": 2e-3, "patch_size": 32,
                                                               "batch_size": 8}),
    Variant("colour base + lr 2e-3 + patch 32", "rgb,gauss,edges", {**_BEFORE, "base": "colour",
                                                                   "learning_rate": 2e-3, "patch_size": 32}),
    Variant("page + colour base + lr 2e-3 + patch 32", "rgb,gauss,edges,page",
            {**_BEFORE, "base": "colour", "learning_rate": 2e-3, "patch_size": 32}),
)}


def train_config(variant: Variant, steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, seconds=0, threads=1, preview_every_s=0, **variant.train)


def cost_key(variant: Variant) -> str:
    """What sets the cost of a step: the network's inputs and base (not the learning rate)."""
    key = f"{GuideSpec(guides=parse_guides(variant.guides)).channels} guide channels, base {variant.train['base']}"
    sizes = [f"{name} {variant.train[field]}" for name, field in (("patch", "patch_size"), ("batch", "batch_size"))
             if variant.train.get(field) not in (None, 0, 48)]
    if variant.train.get("preset", "fast") != "fast":  # the default network's keys stay as they were stored
        sizes.append(f"preset {variant.train['preset']}")
    return ", ".join([key, *sizes])


def small_first(variant: Variant) -> Variant | None:
    """For a variant on the preset's patch schedule: the same variant on SMALL_PATCH patches all along."""
    if variant.train.get("patch_size", 0) != 0:
        return None
    return Variant(variant.label + " (small)", variant.guides, {**variant.train, "patch_size": SMALL_PATCH})


def budget_steps(variant: Variant, budget: float, rates: dict[str, float]) -> int:
    """Steps that `variant` does in `budget` seconds of one core (the small-patch steps at their own rate)."""
    small = small_first(variant)
    if small is None:
        return max(1, round(rates[cost_key(variant)] * budget))
    return scheduled_steps(budget, rates[cost_key(small)], rates[cost_key(variant)])


def calibrate(variant: Variant, steps: int = 150) -> float:
    """Training steps/s of `variant` on one thread (synthetic 256x256 frames, its guide channels)."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(3, SIZE, SIZE, 3, generator=g)
    spec = GuideSpec(guides=parse_guides(variant.guides))
    guides = torch.rand(3, SIZE, SIZE, spec.channels, generator=g) if spec.channels else None
    keyframes, _ = make_keyframes([0, 2], torch.rand(2, SIZE, SIZE, 3, generator=g), frames=frames)
    kwargs = dict(guides=guides, guide_spec=spec.to_dict() if spec.channels else None)
    train_style_model(frames, keyframes, train_config(variant, 5), **kwargs)  # warm-up
    model = train_style_model(frames, keyframes, train_config(variant, steps), **kwargs)
    return model.summary.steps / model.summary.seconds


def rates_for(variants: list[Variant], quick: bool) -> dict[str, float]:
    """Steps/s per cost_key: from RATES when measured before, else measured now and added to it."""
    rates = {} if quick or not RATES.exists() else json.loads(RATES.read_text())
    variants = variants + [s for s in map(small_first, variants) if s is not None]
    missing = {cost_key(v): v for v in variants if cost_key(v) not in rates}
    for key, v in missing.items():
        rates[key] = calibrate(v, 4 if quick else 150)
        print(f"[rate {key}: {rates[key]:.2f} steps/s]", file=sys.stderr, flush=True)
    if missing and not quick:
        RATES.parent.mkdir(parents=True, exist_ok=True)
        RATES.write_text(json.dumps(rates, indent=2))
    return rates


# ----------------------------------------------------------------------------------------------- runs

class Case:
    """One clip in one style: footage, ground truth, keyframes, flow (for the instability measure)."""

    def __init__(self, clip: str, style: str, frames: torch.Tensor, motion):
        self.clip, self.style = clip, style
        self.frames = frames
        self.truth = stylized(frames, style)
        self.keys = keyframe_indices(len(frames))
        self.others = [i for i in range(len(frames)) if i not in self.keys]
        self.motion = motion
        self.truth_instability = temporal_instability(self.truth, motion)

    def score(self, result: torch.Tensor) -> dict:
        o = self.others
        return {"psnr": psnr(result[o], self.truth[o]), "ssim": ssim(result[o], self.truth[o]),
                "instability": temporal_instability(result, self.motion) / self.truth_instability}


def nearest_key(t: int, keys: list[int]) -> int:
    return min(keys, key=lambda k: (abs(k - t), k))


def baselines(case: Case) -> dict[str, torch.Tensor]:
    """Outputs of the baselines for every frame."""
    keys, truth, frames = case.keys, case.truth, case.frames
    lut = ColorLUT(frames[keys], truth[keys])(frames)
    copy = torch.stack([truth[nearest_key(t, keys)] for t in range(len(frames))])
    spec = GuideSpec(guides=("warp",))
    flow = compute_flow(frames, spec.flow_preset, spec.flow_scale)
    warped = {k: compute_guides(frames, spec, [k], keyframes=truth[[k]], flow=flow) for k in keys}
    warp = torch.stack([warped[nearest_key(t, keys)][t] for t in range(len(frames))])
    return {"colour lookup table": lut, "nearest keyframe, copied": copy,
            "nearest keyframe, warped along the flow": warp}


def run_variant(case: Case, variant: Variant, steps: int) -> tuple[dict, torch.Tensor]:
    torch.set_num_threads(1)
    keyframes, _ = make_keyframes(case.keys, case.truth[case.keys], frames=case.frames)
    spec = GuideSpec(guides=parse_guides(variant.guides))
    run = train_and_stylize(case.frames, keyframes, train_config(variant, steps), spec if spec.guides else None,
                            threads=1)
    n = len(case.frames)
    row = {"steps": steps, "train_cpu_s": run.train_s, "guides_s_per_frame": run.guides_s / n,
           "stylize_s_per_frame": run.stylize_s / n, **case.score(run.result)}
    return row, run.result


def append_row(row: dict) -> None:
    ROWS.parent.mkdir(parents=True, exist_ok=True)
    with ROWS.open("a") as f:
        f.write(json.dumps(row) + "\n")


def load_rows() -> dict[tuple, dict]:
    rows: dict[tuple, dict] = {}
    if ROWS.exists():
        for line in ROWS.read_text().splitlines():
            r = json.loads(line)
            rows[(r["clip"], r["style"], r["method"], r["budget_s"])] = r
    return rows


def save_sheet(case: Case, outputs: dict[str, torch.Tensor], name: str) -> Path:
    """A contact sheet: rows input, truth, then each output; columns: 5 frames spread over the clip."""
    from PIL import Image, ImageDraw
    t = len(case.frames)
    cols = sorted({round(i * (t - 1) / 4) for i in range(5)})
    rows = {"input": case.frames, "truth": case.truth, **outputs}
    tiles = [torch.cat([r[c] for c in cols], 1) for r in rows.values()]
    image = (torch.cat(tiles, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
    pil = Image.fromarray(image)
    draw = ImageDraw.Draw(pil)
    for n, label in enumerate(rows):
        draw.text((4, n * case.frames.shape[1] + 4), label, fill=(255, 0, 0))
    path = RESULTS / f"sheet-{case.clip}-{case.style}-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    pil.save(path)
    return path


# ----------------------------------------------------------------------------------------------- report

def report(rows: dict[tuple, dict]) -> str:
    """Markdown tables: per style class and budget, the mean over clips of each method."""
    budgets = sorted({k[3] for k in rows if k[3] > 0})
    methods = list(dict.fromkeys(k[2] for k in rows))
    lines = []
    for style in STYLES:
        kind = "page style" if style in PAGE_STYLES else "follows the content"
        lines += [f"### {style} ({kind})", "", "| method | budget | PSNR | SSIM | instability vs truth | "
                  "stylize s/frame | clips |", "|---|---|---|---|---|---|---|"]
        for budget in [0] + budgets:
            for method in methods:
                got = [r for k, r in rows.items() if k[1] == style and k[2] == method and k[3] == budget]
                if not got:
                    continue
                mean = lambda key: sum(r[key] for r in got) / len(got)  # noqa: E731
                speed = f"{mean('stylize_s_per_frame'):.3f}" if "stylize_s_per_frame" in got[0] else ""
                lines.append(f"| {method} | {f'{budget:g} s' if budget else ''} | {mean('psnr'):.2f} | "
                             f"{mean('ssim'):.3f} | {mean('instability'):.2f}x | {speed} | {len(got)} |")
        lines.append("")
    return "\n".join(lines)


LR_2E3 = "lr 2e-3"                      # the defaults of 2026-11-28 morning (DEFAULT_LR 2e-3, 48x48 all along)
SMALL_FIRST = "small patches first at half lr"  # the defaults of 2026-11-28 evening (32x32 for 800 steps first)
AFTER = "shipped prior"                 # today's defaults: the same, starting at the shipped prior's weights
COLOUR_OPTION = "colour base + lr 2e-3"  # the defaults plus base "colour"
PAGE_OPTION = "page + colour base + lr 2e-3"  # the defaults plus base "colour" and the 'page' guide


def summary(rows: dict[tuple, dict]) -> str:
    """README's table: per style class and budget, mean PSNR / SSIM / instability of the baselines, the defaults
    before and after issue 15, and the page guide option."""
    columns = ("colour lookup table", "nearest keyframe, copied", "nearest keyframe, warped along the flow", "before",
               LR_2E3, SMALL_FIRST, AFTER, COLOUR_OPTION, PAGE_OPTION)
    head = ("LUT", "nearest keyframe copied", "nearest keyframe warped", "before (defaults of 2026-11-27)",
            "lr 2e-3 (48x48 all along)", "lr 2e-3, 32x32 first", "after (defaults: the same from the shipped prior)",
            "lr 2e-3 + colour base",
            "lr 2e-3 + colour base + page guide")
    lines = ["| style class | budget | " + " | ".join(head) + " |", "|---|---|" + "---|" * len(head)]
    budgets = sorted({k[3] for k in rows if k[3] > 0})
    for style in STYLES:
        for budget in budgets:
            cells = []
            for method in columns:
                got = [r for k, r in rows.items() if k[1] == style and k[2] == method and k[3] in (0, budget)]
                if not got:
                    cells.append("")
                    continue
                mean = lambda key: sum(r[key] for r in got) / len(got)  # noqa: E731
                note = "" if len(got) == len(CLIPS) else f" ({len(got)} clip)"
                cells.append(f"{mean('psnr'):.2f} / {mean('ssim'):.3f} / {mean('instability'):.2f}x{note}")
            lines.append(f"| {style} | {budget:g} s | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", default="30,120", help="seconds of one core, comma-separated")
    parser.add_argument("--variants", default="before", help=f"comma-separated (';' also), of {list(VARIANTS)}")
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--sheets", action="store_true", help="only write contact sheets of the styles and "
                        "baselines (benchmarks/results/sheet-*.png)")
    parser.add_argument("--report", action="store_true", help="measure nothing: print the tables")
    parser.add_argument("--quick", action="store_true", help="tiny budgets, nothing stored: checks the script")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.report:
        print(summary(load_rows()) + "\n\n" + report(load_rows()))
        return 0
    variants = [VARIANTS[v.strip()] for v in args.variants.replace(";", ",").split(",") if v.strip()]
    budgets = [float(b) for b in args.budgets.split(",") if b]
    rates = {} if args.sheets else rates_for(variants, args.quick)
    done = load_rows()
    print(f"[{time.strftime('%H:%M:%S')} {cpu_name()}, rates {rates}]", file=sys.stderr, flush=True)
    for clip in args.clips.split(","):
        frames = load_footage(clip, 8 if args.quick else FRAMES, 96 if args.quick else SIZE)
        motion = compute_flow(frames, "balanced", 1)
        for style in args.styles.split(","):
            case = Case(clip, style, frames, motion)
            base = {"clip": clip, "style": style}
            outputs = {}
            if (clip, style, "colour lookup table", 0) not in done or args.sheets or args.quick:
                outputs = baselines(case)
                for method, result in outputs.items():
                    row = {**base, "method": method, "budget_s": 0, **case.score(result)}
                    if not args.quick:
                        append_row(row)
            if args.sheets:
                print(save_sheet(case, outputs, "baselines"))
                continue
            for budget in budgets:
                for v in variants:
                    steps = budget_steps(v, 0.5 if args.quick else budget, rates)
                    row, result = run_variant(case, v, steps)
                    row = {**base, "method": v.label, "budget_s": budget, **row}
                    print(json.dumps(row), flush=True)
                    if not args.quick:
                        append_row(row)
                        save_sheet(case, {v.label: result}, f"{v.label}-{budget:g}s")
    if not args.quick:
        print(report(load_rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
