"""What the benchmarks (and tools/) share: the repository's paths, the clips they score on, the one
train -> guides -> stylize run they time and score, and the sections of benchmarks/RELIABILITY.md.

The benchmarks run from the repository root as modules, `python -m benchmarks.X` (README's commands): the root is
then on sys.path, so `patch_training` and `benchmarks` import from this checkout and no script sets a path.
tools/*.py run as `python tools/X.py` and put the root there first themselves (tools/repo.py).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from patch_training import (FrameSource, GuideSpec, Keyframes, StyleModel, TrainConfig, TrainProgress, fit_style,
                            make_keyframes, model_guides)
from patch_training.config import SMALL_PATCH_STEPS
from patch_training.stylize import stylize

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "example_workflows" / "assets" / "sample"  # the bundled clip: frames/, keyframes/, truth/
RESULTS = REPO / "benchmarks" / "results"  # raw results, not committed
RELIABILITY = REPO / "benchmarks" / "RELIABILITY.md"
TESTS = REPO / "tests"  # holds comfy_host, the ComfyUI server `make test` sets up


# ----------------------------------------------------------------------------------------------- clips

def load_clip(name: str) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """(frames, truth, keyframe indices) of a clip with a ground truth on every frame: "sample" (the bundled one,
    keyframes 0, 14, 31) or a pair of benchmarks/clips.py (keyframes first, middle, last); [T, H, W, 3] 0..1."""
    if name == "sample":
        frames = FrameSource(SAMPLE / "frames").read_all()
        truth = FrameSource(SAMPLE / "truth").read_all()
        keys = [0, 14, 31]
        # the committed keyframes are lossless; truth/ is JPEG
        truth[keys] = FrameSource(SAMPLE / "keyframes").read_all()
        return frames, truth, keys
    from benchmarks.clips import load_pair
    frames, truth = load_pair(name)
    t = len(frames)
    return frames, truth, [0, t // 2, t - 1]


def random_clip(t: int = 3, h: int = 160, w: int = 160) -> tuple[torch.Tensor, Keyframes]:
    """Random frames [t, h, w, 3] and random keyframes at the first and the last (seed 0): for timing training
    steps, not for quality."""
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(t, h, w, 3, generator=g)
    keyframes, _ = make_keyframes([0, t - 1], torch.rand(2, h, w, 3, generator=g), frames=frames)
    return frames, keyframes


def luma(x: np.ndarray) -> np.ndarray:
    """Luminance (Rec. 601 weights) of RGB [..., 3] float32: [...]."""
    return x @ np.array([0.299, 0.587, 0.114], np.float32)


# ----------------------------------------------------------------------------------------------- budgets

def scheduled_steps(budget: float, small_rate: float, rate: float) -> int:
    """Steps of the preset's patch schedule in `budget` seconds: SMALL_PATCH_STEPS at `small_rate` steps/s, the
    rest at `rate`."""
    if budget * small_rate <= SMALL_PATCH_STEPS:
        return max(1, round(budget * small_rate))
    return round(SMALL_PATCH_STEPS + (budget - SMALL_PATCH_STEPS / small_rate) * rate)


# ----------------------------------------------------------------------------------------------- runs

@dataclass
class Stylized:
    """A model trained on a clip, and the clip it stylized; the seconds of each stage on the clock asked for."""

    model: StyleModel
    guides: torch.Tensor | None  # [T, H, W, G]: the model's guides rebuilt for the clip; None for an RGB model
    result: torch.Tensor  # [T, H, W, 3] float32 0..1
    train_s: float
    guides_s: float
    stylize_s: float


def train_and_stylize(frames: torch.Tensor, keyframes: Keyframes, config: TrainConfig, spec: GuideSpec | None = None,
                      *, threads: int = 0, clock: Callable[[], float] = time.process_time,
                      on_progress: Callable[[TrainProgress], None] | None = None) -> Stylized:
    """The library's whole-clip path as a Python user calls it: fit_style on `frames` [T, H, W, 3] and `keyframes`
    with the guides of `spec` (None: RGB only), the model's guides rebuilt for the clip (model_guides), and the
    clip stylized with them. threads: stylize's CPU threads (0: the library's policy; training's are config's).
    clock: what the seconds count (time.process_time: this process's CPU time; time.perf_counter: the wall)."""
    start = clock()
    model = fit_style(frames, keyframes, config, spec, on_progress=on_progress)
    train_s = clock() - start
    start = clock()
    guides = model_guides(model, frames, keyframes.images)
    guides_s = clock() - start
    start = clock()
    result = stylize(model, frames, guides, threads=threads)
    return Stylized(model, guides, result, train_s, guides_s, clock() - start)


# ----------------------------------------------------------------------------------------------- reports

def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else "unknown CPU"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


RELIABILITY_TITLE = ("# Reliability measurements\n\nWritten by the scripts each section names; rerun one to refresh "
                     "its section.\n")


def write_section(title: str, lines: list[str], path: Path = RELIABILITY) -> None:
    """Replaces (or appends) the section `## title` of `path` (RELIABILITY.md: one section per script, a script
    rewrites its own and keeps the others) with `lines`, and prints them."""
    text = path.read_text() if path.exists() else RELIABILITY_TITLE
    head, *sections = text.split("\n## ")
    body = "\n".join([title, "", *lines]).rstrip() + "\n"
    kept = [s for s in sections if s.split("\n", 1)[0] != title]
    path.write_text("\n## ".join([head.rstrip() + "\n", *(s.rstrip() + "\n" for s in kept), body]))
    print("\n".join(lines))
