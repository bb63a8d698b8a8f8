"""Training a style model on patches of the keyframes, for a step count or a wall-clock budget."""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from typing import Callable

import torch

from .. import __version__
from ..model.colour_base import fit_map
from ..config import SMALL_PATCH, SMALL_PATCH_LR_SCALE, TrainConfig
from ..errors import FramesError, GuideError, check_image_batch
from ..stylize.tiled import stylize
from ..frames.selection import strip_indices
from ..keyframes import Keyframes
from .losses import VGG19Features, gradient_loss, l1_loss, lsgan_loss, ssim_loss
from ..model.networks import PatchDiscriminator, StyleModel, build_generator
from .patches import PatchSampler
from ..model.prior import prior_name, resolve_prior
from ..runtime import autocast, cpu_threads, resolve_device, resolve_precision
from . import warm_start

log = logging.getLogger(__name__)
PREVIEW_MAX_SIDE = 512
# The whole-clip strip is rendered at the preview's cadence, but never more often than keeps its cost under
# 1 / STRIP_COST_RATIO of the training time (measured: README, Warm start).
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


def train_style_model(frames: torch.Tensor, keyframes: Keyframes, config: TrainConfig = TrainConfig(),
                      guides: torch.Tensor | None = None, guide_spec: dict | None = None,
                      keyframe_guides: torch.Tensor | None = None,
                      on_progress: Callable[[TrainProgress], None] | None = None,
                      should_stop: Callable[[], bool] | None = None,
                      preview_index: int | None = None, init: StyleModel | None = None,
                      strip_frames: int = 0) -> StyleModel:
    """Learn the keyframes' style. Returns the trained StyleModel (on the CPU, eval mode).

    frames: [T, H, W, 3] float32 0..1 (the whole sequence, or at least the keyframes' frames);
    keyframes: from make_keyframes (indices into frames); guides: [T, H, W, G] 0..1 or None, with guide_spec
    the dict describing them (stored in the model); keyframe_guides: [K, H, W, G], the guides to train on at the
    keyframes when they differ from guides[keyframe indices] (the leave-one-out 'warp' guide). Training runs until config.steps or config.seconds,
    whichever comes first. should_stop() returning True finishes early and returns the model trained so far;
    an exception raised by on_progress (a cancel) propagates after memory is freed.
    Deterministic on the CPU for a given seed and step budget (and init).
    init: a trained model to continue from (warm start): its weights, and Adam's state when it has one; its
    network and guides must be those of this training (WarmStartError says which differs). The learning rate of
    a warm start starts lower (warm_start.learning_rate); the summary records it (warm_start.warm_start_record).
    strip_frames: that many frames spread over the clip are stylized with the preview (TrainProgress.strip, at
    most every STRIP_COST_RATIO x their cost) and by the final model at full size (model.strip).
    """
    config.validate()
    check_image_batch("frames", frames)
    t, h, w = frames.shape[:3]
    if keyframes.images.shape[1:3] != (h, w):
        raise FramesError(f"keyframes: expected the frames' size {w}x{h}, received "
                          f"{keyframes.images.shape[2]}x{keyframes.images.shape[1]}. Build them with make_keyframes.")
    if max(keyframes.indices) >= t:
        raise FramesError(f"keyframes: index {max(keyframes.indices)} is beyond the {t} frames given.")
    if guides is not None and (guides.shape[:3] != frames.shape[:3]):
        raise GuideError(f"guides: expected one guide row per frame, shape [{t}, {h}, {w}, G], "
                         f"received {list(guides.shape)}.")
    device = resolve_device(config.device)
    dtype = resolve_precision(config.precision, device, training=True)
    channels = keyframe_guides.shape[-1] if keyframe_guides is not None else (0 if guides is None else guides.shape[-1])
    gen_config = config.generator(3 + channels, None if init is None else init.config)
    loss_config = config.resolved_loss()
    idx = list(keyframes.indices)
    if init is not None:
        warm_start.check_init(init, gen_config, guide_spec if channels else None)
    prior = None if init is not None else resolve_prior(config.prior, gen_config, guide_spec if channels else None)
    warm_steps = None if init is None else warm_start.steps_total(init.summary)

    # ComfyUI runs nodes under torch.inference_mode(); tensors made there cannot be saved for backward.
    # Training leaves it explicitly (as ComfyUI's own nodes_train.py does) and clones its inputs.
    with torch.inference_mode(False), torch.enable_grad(), cpu_threads(config.threads):
        if guides is not None and keyframe_guides is None:
            keyframe_guides = guides[idx]
        if keyframe_guides is not None and keyframe_guides.shape[:3] != (len(idx), h, w):
            raise GuideError(f"keyframe guides: expected shape [{len(idx)}, {h}, {w}, G], received "
                             f"{list(keyframe_guides.shape)}.")
        inputs = _channels_first([frames[i] for i in idx], keyframe_guides, frames.dtype).to(device)
        targets = _channels_first(list(keyframes.images), None, keyframes.images.dtype).to(device)
        masks = None if keyframes.masks is None else keyframes.masks.clone()[:, None].float().to(device)

        with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching global RNG state
            torch.manual_seed(config.seed)
            generator = build_generator(gen_config)
            if init is not None:
                warm_start.load_init(generator, init)
            elif prior is not None:  # a cold start from the prior's weights (then trained as from scratch)
                warm_start.load_init(generator, prior)
            if gen_config.base == "colour" and init is None:  # a warm start keeps the base it learned on
                generator.colour_map.copy_(fit_map(inputs[:, :3], targets, masks))
            generator = generator.to(device)
            discriminator = PatchDiscriminator().to(device) if loss_config.adversarial else None
        vgg = VGG19Features(loss_config.vgg_path).to(device) if loss_config.perceptual else None
        sampling = torch.Generator().manual_seed(config.seed + 1)
        sampler = PatchSampler(inputs, targets, masks, config.resolved_patch(), sampling)
        small_steps = config.small_patch_steps(warm=init is not None)
        small = PatchSampler(inputs, targets, masks, SMALL_PATCH, sampling) if small_steps else None
        small_size = small.patch if small else 0
        patch, lr = sampler.patch, config.resolved_lr(warm=init is not None)
        # Paper: Adam(4e-4, betas 0.9/0.999, weight decay 1e-5). Small presets: Adam DEFAULT_LR with cosine decay.
        decay = 1e-5 if config.is_reference else 0.0
        opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=decay)
        opt_d = (torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=decay)
                 if discriminator is not None else None)
        continued = init is not None and init.optimizer_state is not None
        if continued:
            # A copy: Adam updates its moments in place, and load_state_dict keeps CPU tensors as they are.
            opt_g.load_state_dict(copy.deepcopy(init.optimizer_state))
        renders = guides is not None or channels == 0  # the held-out frames' guides are known
        preview_frame = _preview_input(frames, guides, idx, preview_index) if renders else None
        strip_idx = strip_indices(t, strip_frames) if renders and strip_frames > 0 else []
        strip_input = _scaled_input(frames, guides, strip_idx) if strip_idx else None

        step, start = 0, time.perf_counter()
        last_report, last_preview, last_strip, strip_cost = start, -math.inf, -math.inf, 0.0
        sums: dict[str, float] = {}
        last_losses: dict[str, float] = {}
        counted, reported_step = 0, 0
        try:
            generator.train()
            while True:
                elapsed = time.perf_counter() - start
                fraction = _fraction(step, elapsed, config)
                if fraction >= 1.0 or (should_stop is not None and should_stop()):
                    break
                for group in opt_g.param_groups:
                    group["lr"] = warm_start.learning_rate(lr, fraction, init is not None, config.is_reference) * (
                        SMALL_PATCH_LR_SCALE if step < small_steps else 1.0)
                x, y, m = (small if step < small_steps else sampler).sample(config.resolved_batch())
                terms = _train_step(generator, discriminator, vgg, opt_g, opt_d, x, y, m, loss_config, device, dtype)
                step += 1
                counted += 1
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v
                now = time.perf_counter()
                if on_progress is not None and (step == 1 or now - last_report >= config.report_every_s):
                    preview = strip = None
                    if preview_frame is not None and config.preview_every_s and now - last_preview >= config.preview_every_s:
                        preview = _render_preview(generator, gen_config, preview_frame, device)
                        last_preview = time.perf_counter()
                        if strip_input is not None and now - last_strip >= STRIP_COST_RATIO * strip_cost:
                            strip = _render_preview(generator, gen_config, strip_input, device)
                            last_strip = time.perf_counter()
                            strip_cost = last_strip - last_preview
                    progress = _progress(step, now - start, config, sums, counted, step - reported_step,
                                         now - last_report if step > 1 else now - start, preview)
                    progress.strip, progress.strip_indices = strip, tuple(strip_idx)
                    progress.warm_start_steps, progress.warm_start_from = warm_steps, init.source if init else ""
                    on_progress(progress)
                    last_losses = {k: v / max(counted, 1) for k, v in sums.items()}
                    sums, counted, reported_step, last_report = {}, 0, step, time.perf_counter()
            optimizer_state = _cpu_state(opt_g.state_dict()) if warm_start.KEEP_OPTIMIZER_STATE else None
        finally:
            generator.eval().cpu()
            del discriminator, vgg, opt_g, opt_d, inputs, targets, masks, sampler, small
            if device.type == "cuda":
                torch.cuda.empty_cache()

        seconds = time.perf_counter() - start
        model = StyleModel(generator, gen_config, guide_spec, {
            "steps": step, "seconds": round(seconds, 3), "preset": config.preset,
            "loss": {k: v for k, v in dataclasses.asdict(loss_config).items() if k != "vgg_path"},
            "final_losses": {k: v / counted for k, v in sums.items()} if counted else last_losses,
            "keyframe_indices": idx, "frame_size": [h, w], "seed": config.seed,
            "batch_size": config.resolved_batch(), "patch_size": patch, "learning_rate": lr,
            "small_patch_steps": min(step, small_steps), "small_patch_size": small_size,
            "prior": prior_name(config.prior, prior),
            "device": device.type, "precision": str(dtype).replace("torch.", ""),
            "threads": torch.get_num_threads(), "library_version": __version__,
            "stopped_early": bool(should_stop is not None and should_stop()),
        })
        model.optimizer_state = optimizer_state
        if init is not None:
            model.summary["warm_start"] = warm_start.warm_start_record(init, step, continued,
                                                                       warm_start.WARM_LR_SCALE)
        if preview_frame is not None:
            model.preview = _render_preview(generator, gen_config, preview_frame, torch.device("cpu"))
        if strip_idx:
            model.strip = torch.cat([_render_preview(generator, gen_config, _scaled_input(frames, guides, [i], None),
                                                     torch.device("cpu")) for i in strip_idx])  # full size, one by one
        if on_progress is not None:
            final = _progress(step, seconds, config, sums if counted else last_losses, max(counted, 1),
                              step, seconds, model.preview)  # the whole run's rate: the last window may be empty
            final.done, final.eta_s = True, 0.0
            final.strip, final.strip_indices = model.strip, tuple(strip_idx)
            final.warm_start_steps, final.warm_start_from = warm_steps, init.source if init else ""
            on_progress(final)
    log.info("trained %d steps in %.1f s", step, seconds)
    return model


def _channels_first(images: list[torch.Tensor], guides: torch.Tensor | None, dtype) -> torch.Tensor:
    """images ([H, W, 3] each) and their guides ([K, H, W, G], cast to `dtype` first) as one new float32
    [K, 3 + G, H, W] tensor, made outside inference mode in one copy: at 1080p a keyframe and its guides are
    about 60 MB, and every extra copy of all keyframes counts in the peak."""
    h, w, c = images[0].shape
    out = torch.empty((len(images), c + (0 if guides is None else guides.shape[-1]), h, w), dtype=torch.float32)
    for j, image in enumerate(images):
        out[j, :c] = image.permute(2, 0, 1)
        if guides is not None:
            out[j, c:] = guides[j].to(dtype).permute(2, 0, 1)
    return out


def _train_step(generator, discriminator, vgg, opt_g, opt_d, x, y, m, loss, device, dtype) -> dict[str, float]:
    with autocast(device, dtype):
        out = generator(x)
    out = out.float()
    if discriminator is not None:
        # The paper's patch discriminator: generated (detached) patches are fake, keyframe patches real.
        opt_d.zero_grad(set_to_none=True)
        fake_in, real_in = (out.detach(), y) if m is None else (out.detach() * m, y * m)
        with autocast(device, dtype):
            d_loss = lsgan_loss(discriminator(fake_in).float(), False) + lsgan_loss(discriminator(real_in).float(), True)
        d_loss.backward()
        opt_d.step()
    terms: dict[str, torch.Tensor] = {}
    if loss.l1:
        terms["l1"] = loss.l1 * l1_loss(out, y, m)
    if loss.ssim:
        terms["ssim"] = loss.ssim * ssim_loss(out, y, m)
    if loss.gradient:
        terms["gradient"] = loss.gradient * gradient_loss(out, y, m)
    if vgg is not None:
        o, t = (out, y) if m is None else (out * m, y * m)
        terms["perceptual"] = loss.perceptual * ((vgg(o) - vgg(t)) ** 2).mean()
    if discriminator is not None:
        with autocast(device, dtype):
            pred = discriminator(out if m is None else out * m).float()
        terms["adversarial"] = loss.adversarial * lsgan_loss(pred, True)
    total = sum(terms.values())
    opt_g.zero_grad(set_to_none=True)
    total.backward()
    opt_g.step()
    values = torch.stack([v.detach() for v in terms.values()] + [total.detach()]).tolist()  # one GPU sync
    return dict(zip(list(terms) + ["total"], values))


def _fraction(step: int, elapsed: float, config: TrainConfig) -> float:
    parts = []
    if config.seconds:
        parts.append(elapsed / config.seconds)
    if config.steps:
        parts.append(step / config.steps)
    return max(parts)


def _progress(step, elapsed, config, sums, counted, steps_since, seconds_since, preview) -> TrainProgress:
    rate = steps_since / seconds_since if seconds_since > 0 else 0.0
    remaining = []
    if config.seconds:
        remaining.append(max(0.0, config.seconds - elapsed))
    if config.steps and rate > 0:
        remaining.append(max(0, config.steps - step) / rate)
    return TrainProgress(step, elapsed, config.seconds, config.steps,
                         {k: v / max(counted, 1) for k, v in sums.items()}, rate,
                         min(remaining) if remaining else 0.0, preview)


def _preview_input(frames, guides, keyframe_indices, preview_index) -> torch.Tensor | None:
    """The frame shown while training: the given index, else the middle frame not used as a keyframe."""
    t = frames.shape[0]
    if preview_index is None:
        preview_index = default_preview_index(t, keyframe_indices)
    if not 0 <= preview_index < t:
        raise FramesError(f"preview frame: expected a frame number from 0 to {t - 1}, received {preview_index}.")
    return _scaled_input(frames, guides, [preview_index])


def _scaled_input(frames, guides, indices, max_side: int | None = PREVIEW_MAX_SIDE) -> torch.Tensor:
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


def _cpu_state(state: dict) -> dict:
    """An optimizer state_dict with every tensor copied to the CPU."""
    return {"state": {k: {n: v.detach().cpu().clone() if torch.is_tensor(v) else v for n, v in s.items()}
                      for k, s in state["state"].items()},
            "param_groups": [dict(g) for g in state["param_groups"]]}


def default_preview_index(frame_count: int, keyframe_indices) -> int:
    """The frame shown while training when none is chosen: the middle frame that is not a keyframe."""
    keys = set(keyframe_indices)
    others = [i for i in range(frame_count) if i not in keys] or list(range(frame_count))
    return others[len(others) // 2]


def _render_preview(generator, gen_config, x: torch.Tensor, device) -> torch.Tensor:
    was_training = generator.training
    generator.eval()
    try:
        model = StyleModel(generator, gen_config, {"names": ["preview"]} if x.shape[-1] > 3 else {})
        with torch.no_grad():
            return stylize(model, x[..., :3], x[..., 3:] if x.shape[-1] > 3 else None, device=device,
                           check_memory=False)  # a frame of at most 512 px, checked with the training
    finally:
        generator.train(was_training)
