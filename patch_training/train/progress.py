"""What training shows while it runs: progress reports (TrainProgress), the held-out preview frame and the strip
of frames spread over the clip, rendered by the network being trained."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ..errors import FramesError
from ..model.networks import StyleModel
from ..stylize.tiled import stylize

PREVIEW_MAX_SIDE = 512
# The whole-clip strip is rendered at the preview's cadence, but never more often than keeps its cost under
# 1 / STRIP_COST_RATIO of the training time (measured: benchmarks/RESULTS.md, Warm start).
STRIP_COST_RATIO = 20


@dataclass
class TrainProgress:
    """What the trainer reports: on_progress receives one of these at most every `report_every_s`."""

    step: int
    elapsed_s: float
    seconds_budget: float          # 0: no time limit
    steps_budget: int              # 0: no step limit
    losses: dict[str, float]       # running means since the previous report, by term, plus "total"
    steps_per_s: float
    eta_s: float
    preview: torch.Tensor | None = None  # [1, H, W, 3] a held-out frame, when a new one was rendered
    done: bool = False
    strip: torch.Tensor | None = None  # [N, h, w, 3] frames spread over the clip (strip_indices), when rendered
    strip_indices: tuple[int, ...] = ()
    warm_start_steps: int | None = None  # steps of the model this run continues; None: a cold start
    warm_start_from: str = ""            # where that model came from (a file name, the node's previous run)
    prior: str = ""                      # a cold start's starting weights (the summary's prior: "" is random)

    @property
    def fraction(self) -> float:
        """How much of the budget is used, 0..1 (the larger of time and steps)."""
        parts = []
        if self.seconds_budget:
            parts.append(self.elapsed_s / self.seconds_budget)
        if self.steps_budget:
            parts.append(self.step / self.steps_budget)
        return min(1.0, max(parts)) if parts else 0.0

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("preview", "strip")}
        out["losses"] = dict(self.losses)
        out["strip_indices"] = list(self.strip_indices)
        out["fraction"] = self.fraction
        return out


def progress_at(step, elapsed, config, sums, counted, steps_since, seconds_since, preview) -> TrainProgress:
    rate = steps_since / seconds_since if seconds_since > 0 else 0.0
    remaining = []
    if config.seconds:
        remaining.append(max(0.0, config.seconds - elapsed))
    if config.steps and rate > 0:
        remaining.append(max(0, config.steps - step) / rate)
    return TrainProgress(step, elapsed, config.seconds, config.steps,
                         {k: v / max(counted, 1) for k, v in sums.items()}, rate,
                         min(remaining) if remaining else 0.0, preview)


def preview_input(frames, guides, keyframe_indices, preview_index) -> torch.Tensor | None:
    """The frame shown while training: the given index, else the middle frame not used as a keyframe."""
    t = frames.shape[0]
    if preview_index is None:
        preview_index = default_preview_index(t, keyframe_indices)
    if not 0 <= preview_index < t:
        raise FramesError(f"preview frame: expected a frame number from 0 to {t - 1}, received {preview_index}.")
    return scaled_input(frames, guides, [preview_index])


def scaled_input(frames, guides, indices, max_side: int | None = PREVIEW_MAX_SIDE) -> torch.Tensor:
    """Frames `indices` with their guides, [N, h, w, 3 + G] float32, area-downscaled to at most max_side a side."""
    x = frames[indices]
    if guides is not None:
        x = torch.cat((x, guides[indices].to(x.dtype)), -1)
    h, w = x.shape[1:3]
    scale = max_side / max(h, w) if max_side else 1.0
    if scale < 1:
        x = torch.nn.functional.interpolate(x.permute(0, 3, 1, 2).float(), scale_factor=scale, mode="area")
        x = x.permute(0, 2, 3, 1)
    return x.clone().float()


def default_preview_index(frame_count: int, keyframe_indices) -> int:
    """The frame shown while training when none is chosen: the middle frame that is not a keyframe."""
    keys = set(keyframe_indices)
    others = [i for i in range(frame_count) if i not in keys] or list(range(frame_count))
    return others[len(others) // 2]


def render_preview(generator, gen_config, x: torch.Tensor, device) -> torch.Tensor:
    was_training = generator.training
    generator.eval()
    try:
        model = StyleModel(generator, gen_config, {"names": ["preview"]} if x.shape[-1] > 3 else {})
        with torch.no_grad():
            return stylize(model, x[..., :3], x[..., 3:] if x.shape[-1] > 3 else None, device=device,
                           check_memory=False)  # a frame of at most 512 px, checked with the training
    finally:
        generator.train(was_training)
