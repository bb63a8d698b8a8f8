"""A trainer without an end: it trains step by step, takes new keyframes between two steps (the weights and
Adam's moments continue, the patch samplers draw from the new keyframes) and renders frames with the current
weights. The live session (pipeline/live.py) drives it; it knows nothing of files.

Learning rate: a cold start follows a run of `config.seconds` (its cosine from the base rate down to
COLD_END x base, with the small patches first), then stays at COLD_END x base. A keyframe change starts a warm
start's schedule (warm_start.learning_rate over WARM_SECONDS), as `train --init` after an edit does.
"""
from __future__ import annotations

import copy
import dataclasses
import time

import torch

from .. import __version__
from ..config import SMALL_PATCH, SMALL_PATCH_LR_SCALE, TrainConfig
from ..errors import ConfigError, FramesError, GuideError
from ..keyframes import Keyframes
from ..model.networks import StyleModel
from ..model.prior import prior_name
from ..model.summary import TrainSummary
from ..runtime import cpu_threads
from . import warm_start
from .loop import _channels_first, _setup, _start, _train_step
from .patches import PatchSampler
from .progress import render_preview

# Seconds of the warm schedule after a keyframe change. benchmarks/warm_start.py: a warm start at 0.3 x the rate
# reaches a fresh run's quality in 2-5 s; the schedule's tail (down to 0.1 x) refines for a few more seconds.
WARM_SECONDS = 10.0


class LiveTrainer:
    """Training that continues while its keyframes change.

    frames: [K, H, W, 3] float32 0..1, the keyframes' frames; keyframes: their stylizations (indices 0..K-1 into
    `frames`); keyframe_guides: [K, H, W, G] their guides or None; guide_spec: what the guides are (stored in the
    model). config: the network, loss and rates (config.seconds: the length of the cold start's schedule).
    Not thread-safe: one thread calls train(), set_keyframes(), render() and model() (the session's lock).
    """

    def __init__(self, frames: torch.Tensor, keyframes: Keyframes, config: TrainConfig,
                 keyframe_guides: torch.Tensor | None = None, guide_spec: dict | None = None,
                 init: StyleModel | None = None, clock=time.perf_counter):
        self.config, self.clock = config, clock
        self._threads = config.threads
        with torch.inference_mode(False), torch.enable_grad(), cpu_threads(self._threads):
            self.setup = _setup(frames, keyframes, config, None, keyframe_guides, guide_spec, init)
            self.run = _start(self.setup, frames, keyframes, config, None, keyframe_guides, init)
        self.init = init
        self.steps = 0
        self.losses: dict[str, float] = {}
        self._sampling = self.run.sampler.generator
        self._phase_start = clock()
        self._phase_steps = 0
        self._warm = init is not None
        self.started = self._phase_start
        self.changes = 0
        self.restarted = False  # the last change started again from the starting weights

    @property
    def channels(self) -> int:
        """Guide channels the network takes beside RGB."""
        return self.setup.channels

    def learning_rate(self, now: float | None = None) -> float:
        """The generator's learning rate at `now` (default: the clock's time)."""
        elapsed = (self.clock() if now is None else now) - self._phase_start
        if self._warm:
            base = self.config.resolved_lr(warm=True)
            return warm_start.learning_rate(base, elapsed / WARM_SECONDS, True, self.config.is_reference)
        rate = warm_start.learning_rate(self.run.lr, elapsed / max(self.config.seconds, 1e-9), False,
                                        self.config.is_reference)
        return rate * (SMALL_PATCH_LR_SCALE if self._phase_steps < self.run.small_steps else 1.0)

    def hold(self, seconds: float) -> None:
        """The schedule does not count these `seconds` (of the clock): time spent on other work than training, as
        rendering the strip, so that a schedule of N seconds trains N seconds' worth of steps, as a fresh run's."""
        self._phase_start += seconds

    def train(self, steps: int = 1) -> dict[str, float]:
        """Train `steps` steps; returns the loss terms of the last one."""
        run, setup = self.run, self.setup
        with torch.inference_mode(False), torch.enable_grad(), cpu_threads(self._threads):
            run.generator.train()
            for _ in range(steps):
                rate = self.learning_rate()
                for group in run.opt_g.param_groups:
                    group["lr"] = rate
                small = not self._warm and self._phase_steps < run.small_steps
                x, y, m = (run.small if small else run.sampler).sample(self.config.resolved_batch())
                self.losses = _train_step(run.generator, run.discriminator, run.vgg, run.opt_g, run.opt_d, x, y, m,
                                          setup.loss_config, setup.device, setup.dtype)
                self.steps += 1
                self._phase_steps += 1
        return self.losses

    def set_keyframes(self, frames: torch.Tensor, keyframes: Keyframes,
                      keyframe_guides: torch.Tensor | None = None, schedule: str = "warm") -> None:
        """Train on these keyframes from the next step on (arguments as the constructor's); the weights and the
        optimizer continue. schedule: "warm", the learning rate starts a warm start's schedule (an edit of the
        style: WARM_SECONDS); "cold", a fresh start's (another style: config.seconds, small patches first), from the starting weights
        (the prior's) when there are any, else from the current ones."""
        if schedule not in ("warm", "cold"):
            raise ConfigError(f"schedule: expected 'warm' or 'cold', received {schedule!r}.")
        k, h, w = len(keyframes), self.setup.h, self.setup.w
        if frames.shape[:3] != (k, h, w) or keyframes.images.shape[1:3] != (h, w):
            raise FramesError(f"keyframes: expected {k} frames of {w}x{h} (the session's size), received frames "
                             f"{list(frames.shape)} and keyframes {list(keyframes.images.shape)}.")
        channels = 0 if keyframe_guides is None else keyframe_guides.shape[-1]
        if channels != self.setup.channels:
            raise GuideError(f"keyframe guides: expected {self.setup.channels} guide channels (the network's), "
                             f"received {channels}.")
        device = self.setup.device
        with torch.inference_mode(False):
            inputs = _channels_first(list(frames), keyframe_guides, frames.dtype).to(device)
            targets = _channels_first(list(keyframes.images), None, keyframes.images.dtype).to(device)
            masks = None if keyframes.masks is None else keyframes.masks.clone()[:, None].float().to(device)
        self.run.sampler = PatchSampler(inputs, targets, masks, self.config.resolved_patch(), self._sampling)
        if self.run.small is not None:
            self.run.small = PatchSampler(inputs, targets, masks, SMALL_PATCH, self._sampling)
        self.setup = dataclasses.replace(self.setup, idx=list(range(k)))
        self.restarted = schedule == "cold" and self._restart()
        self._phase_start, self._phase_steps, self._warm = self.clock(), 0, schedule == "warm"
        self.changes += 1

    def _restart(self) -> bool:
        """Another style: start again from the starting weights (the prior's), with a fresh optimizer; True if
        there are such weights (none after --init or with prior 'none': the current weights continue).
        Starting again equals a fresh start step for step, so a new style gets at least a fresh start's quality;
        continuing the other style's weights was not clearly better or worse (benchmarks/RESULTS.md, Live
        session)."""
        start = self.setup.prior
        if start is None:
            return False
        warm_start.load_init(self.run.generator, start)
        self.run.opt_g = torch.optim.Adam(self.run.generator.parameters(), lr=self.run.lr, betas=(0.9, 0.999),
                                          weight_decay=self.run.opt_g.param_groups[0]["weight_decay"])
        return True

    def render(self, x: torch.Tensor) -> torch.Tensor:
        """Frames stylized by the current weights: x [N, h, w, 3 + G] (frames and their guides) -> [N, h, w, 3]."""
        with cpu_threads(self._threads):
            return render_preview(self.run.generator, self.setup.gen_config, x, self.setup.device)

    def model(self, keyframe_indices: list[int] | None = None) -> StyleModel:
        """A copy of the current model (on the CPU, eval mode) with its summary; training goes on unchanged."""
        generator = copy.deepcopy(self.run.generator).cpu().eval()
        loss = {k: v for k, v in dataclasses.asdict(self.setup.loss_config).items() if k != "vgg_path"}
        summary = TrainSummary(
            steps=self.steps, seconds=round(self.clock() - self.started, 3), preset=self.config.preset, loss=loss,
            final_losses=dict(self.losses), keyframe_indices=list(keyframe_indices or self.setup.idx),
            frame_size=[self.setup.h, self.setup.w], seed=self.config.seed,
            batch_size=self.config.resolved_batch(), patch_size=self.run.patch, learning_rate=self.run.lr,
            small_patch_steps=min(self.steps, self.run.small_steps), small_patch_size=self.run.small_size,
            prior=prior_name(self.config.prior, self.setup.prior),
            device=self.setup.device.type, precision=str(self.setup.dtype).replace("torch.", ""),
            threads=torch.get_num_threads(), library_version=__version__, stopped_early=True)
        if self.init is not None:
            summary.warm_start = warm_start.warm_start_record(self.init, self.steps, False, warm_start.WARM_LR_SCALE)
        return StyleModel(generator, self.setup.gen_config, self.setup.guide_spec, summary)
