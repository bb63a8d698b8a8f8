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
from ..config import SMALL_PATCH, SMALL_PATCH_LR_SCALE, GeneratorConfig, LossConfig, TrainConfig
from ..errors import FramesError, GuideError, check_image_batch
from ..frames.selection import strip_indices
from ..keyframes import Keyframes
from .losses import VGG19Features, gradient_loss, l1_loss, lsgan_loss, ssim_loss
from ..model.networks import PatchDiscriminator, StyleModel, build_generator
from ..model.summary import TrainSummary
from .patches import PatchSampler
from .progress import (STRIP_COST_RATIO, TrainProgress, preview_input, progress_at, render_preview,
                       scaled_input)
from ..model.prior import prior_name, resolve_prior
from ..runtime import autocast, cpu_threads, empty_cache, resolve_device, resolve_precision
from . import warm_start

log = logging.getLogger(__name__)


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
    keyframes when they differ from guides[keyframe indices] (the leave-one-out 'warp' guide). Training runs
    until config.steps or config.seconds, whichever comes first. should_stop() returning True finishes early and
    returns the model trained so far; an exception raised by on_progress (a cancel) propagates after memory is
    freed. Deterministic on the CPU for a given seed and step budget (and init).
    init: a trained model to continue from (warm start): its weights, and Adam's state when it has one; its
    network and guides must be those of this training (WarmStartError says which differs). The learning rate of
    a warm start starts lower (warm_start.learning_rate); the summary records it (warm_start.warm_start_record).
    strip_frames: that many frames spread over the clip are stylized with the preview (TrainProgress.strip, at
    most every STRIP_COST_RATIO x their cost) and by the final model at full size (model.strip).
    """
    setup = _setup(frames, keyframes, config, guides, keyframe_guides, guide_spec, init)
    # ComfyUI runs nodes under torch.inference_mode(); tensors made there cannot be saved for backward.
    # Training leaves it explicitly (as ComfyUI's own nodes_train.py does) and clones its inputs.
    with torch.inference_mode(False), torch.enable_grad(), cpu_threads(config.threads):
        run = _start(setup, frames, keyframes, config, guides, keyframe_guides, init)
        renders = guides is not None or setup.channels == 0  # the held-out frames' guides are known
        preview_frame = preview_input(frames, guides, setup.idx, preview_index) if renders else None
        strip_idx = strip_indices(setup.t, strip_frames) if renders and strip_frames > 0 else []
        strip_input = scaled_input(frames, guides, strip_idx) if strip_idx else None
        try:
            done = _loop(run, setup, config, on_progress, should_stop, preview_frame, strip_input, strip_idx)
        finally:
            run.generator.eval().cpu()
            run.release()
            empty_cache(setup.device)
        model = _finish(run, setup, config, done, should_stop, init)
        model.summary.alignment = None if keyframes.alignment is None else [dict(a) for a in keyframes.alignment]
        if preview_frame is not None:
            model.preview = render_preview(run.generator, setup.gen_config, preview_frame, torch.device("cpu"))
        if strip_idx:
            model.strip = torch.cat([render_preview(run.generator, setup.gen_config,
                                                     scaled_input(frames, guides, [i], None), torch.device("cpu"))
                                     for i in strip_idx])  # full size, one by one
        if on_progress is not None:
            final = progress_at(done.step, done.seconds, config, done.sums if done.counted else done.last_losses,
                              max(done.counted, 1), done.step, done.seconds, model.preview)  # the whole run's rate
            final.done, final.eta_s = True, 0.0
            final.strip, final.strip_indices = model.strip, tuple(strip_idx)
            final.warm_start_steps, final.warm_start_from = setup.warm_steps, setup.init_source
            final.prior = prior_name(config.prior, setup.prior)
            on_progress(final)
    log.info("trained %d steps in %.1f s", done.step, done.seconds)
    return model


@dataclass
class _Setup:
    """A training run as asked for, checked: the clip's size, the keyframes, the network, the losses, the device."""

    t: int
    h: int
    w: int
    idx: list[int]
    channels: int  # guide channels
    device: torch.device
    dtype: torch.dtype
    gen_config: GeneratorConfig
    loss_config: LossConfig
    prior: StyleModel | None
    warm_steps: int | None   # steps behind the init model; None: a cold start
    init_source: str         # where the init model came from
    guide_spec: dict | None  # what the guides are (stored in the model)


def _setup(frames, keyframes, config, guides, keyframe_guides, guide_spec, init) -> _Setup:
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
    if init is not None:
        warm_start.check_init(init, gen_config, guide_spec if channels else None)
    prior = None if init is not None else resolve_prior(config.prior, gen_config, guide_spec if channels else None)
    warm_steps = None if init is None else warm_start.steps_total(init.summary)
    return _Setup(t, h, w, list(keyframes.indices), channels, device, dtype, gen_config, config.resolved_loss(),
                  prior, warm_steps, init.source if init else "", guide_spec)


@dataclass
class _Run:
    """What a run holds while it trains: the networks and their optimizers on the device, the patch samplers,
    the patch sizes and the learning rate's base (for the summary)."""

    generator: torch.nn.Module
    discriminator: torch.nn.Module | None
    vgg: torch.nn.Module | None
    opt_g: torch.optim.Optimizer | None
    opt_d: torch.optim.Optimizer | None
    sampler: PatchSampler | None
    small: PatchSampler | None  # small patches first (config.small_patch_steps), or None
    small_steps: int
    small_size: int
    patch: int
    lr: float
    continued: bool            # Adam's state continued from the init model

    def release(self) -> None:
        """Drop everything but the generator (GPU memory, the keyframes' tensors the samplers hold)."""
        self.discriminator = self.vgg = self.opt_g = self.opt_d = self.sampler = self.small = None


def _start(setup: _Setup, frames, keyframes, config, guides, keyframe_guides, init) -> _Run:
    if guides is not None and keyframe_guides is None:
        keyframe_guides = guides[setup.idx]
    if keyframe_guides is not None and keyframe_guides.shape[:3] != (len(setup.idx), setup.h, setup.w):
        raise GuideError(f"keyframe guides: expected shape [{len(setup.idx)}, {setup.h}, {setup.w}, G], received "
                         f"{list(keyframe_guides.shape)}.")
    device, loss = setup.device, setup.loss_config
    inputs = _channels_first([frames[i] for i in setup.idx], keyframe_guides, frames.dtype).to(device)
    targets = _channels_first(list(keyframes.images), None, keyframes.images.dtype).to(device)
    masks = learned_where(keyframes)
    masks = None if masks is None else masks[:, None].float().to(device)

    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching global RNG state
        torch.manual_seed(config.seed)
        generator = build_generator(setup.gen_config)
        if init is not None:
            warm_start.load_init(generator, init)
        elif setup.prior is not None:  # a cold start from the prior's weights (then trained as from scratch)
            warm_start.load_init(generator, setup.prior)
        if setup.gen_config.base == "colour" and init is None:  # a warm start keeps the base it learned on
            generator.colour_map.copy_(fit_map(inputs[:, :3], targets, masks))
        generator = generator.to(device)
        discriminator = PatchDiscriminator().to(device) if loss.adversarial else None
    vgg = VGG19Features(loss.vgg_path).to(device) if loss.perceptual else None
    sampling = torch.Generator().manual_seed(config.seed + 1)
    sampler = PatchSampler(inputs, targets, masks, config.resolved_patch(), sampling)
    small_steps = config.small_patch_steps(warm=init is not None)
    small = PatchSampler(inputs, targets, masks, SMALL_PATCH, sampling) if small_steps else None
    lr = config.resolved_lr(warm=init is not None)
    # Paper: Adam(4e-4, betas 0.9/0.999, weight decay 1e-5). Small presets: Adam DEFAULT_LR with cosine decay.
    decay = 1e-5 if config.is_reference else 0.0
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=decay)
    opt_d = (torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=decay)
             if discriminator is not None else None)
    continued = init is not None and init.optimizer_state is not None
    if continued:
        # A copy: Adam updates its moments in place, and load_state_dict keeps CPU tensors as they are.
        opt_g.load_state_dict(copy.deepcopy(init.optimizer_state))
    return _Run(generator, discriminator, vgg, opt_g, opt_d, sampler, small, small_steps,
                small.patch if small else 0, sampler.patch, lr, continued)


@dataclass
class _Done:
    """Where the loop ended: steps, seconds, the loss sums of the last window, Adam's state when kept."""

    step: int
    seconds: float
    sums: dict[str, float]
    counted: int
    last_losses: dict[str, float]
    optimizer_state: dict | None


def _loop(run: _Run, setup: _Setup, config, on_progress, should_stop, preview_frame, strip_input,
          strip_idx) -> _Done:
    step, start = 0, time.perf_counter()
    last_report, last_preview, last_strip, strip_cost = start, -math.inf, -math.inf, 0.0
    sums: dict[str, float] = {}
    last_losses: dict[str, float] = {}
    counted, reported_step = 0, 0
    warm = setup.warm_steps is not None
    run.generator.train()
    while True:
        elapsed = time.perf_counter() - start
        fraction = _fraction(step, elapsed, config)
        if fraction >= 1.0 or (should_stop is not None and should_stop()):
            break
        for group in run.opt_g.param_groups:
            group["lr"] = warm_start.learning_rate(run.lr, fraction, warm, config.is_reference) * (
                SMALL_PATCH_LR_SCALE if step < run.small_steps else 1.0)
        x, y, m = (run.small if step < run.small_steps else run.sampler).sample(config.resolved_batch())
        terms = _train_step(run.generator, run.discriminator, run.vgg, run.opt_g, run.opt_d, x, y, m,
                            setup.loss_config, setup.device, setup.dtype)
        step += 1
        counted += 1
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v
        now = time.perf_counter()
        if on_progress is not None and (step == 1 or now - last_report >= config.report_every_s):
            preview = strip = None
            if preview_frame is not None and config.preview_every_s and now - last_preview >= config.preview_every_s:
                preview = render_preview(run.generator, setup.gen_config, preview_frame, setup.device)
                last_preview = time.perf_counter()
                if strip_input is not None and now - last_strip >= STRIP_COST_RATIO * strip_cost:
                    strip = render_preview(run.generator, setup.gen_config, strip_input, setup.device)
                    last_strip = time.perf_counter()
                    strip_cost = last_strip - last_preview
            progress = progress_at(step, now - start, config, sums, counted, step - reported_step,
                                 now - last_report if step > 1 else now - start, preview)
            progress.strip, progress.strip_indices = strip, tuple(strip_idx)
            progress.warm_start_steps, progress.warm_start_from = setup.warm_steps, setup.init_source
            progress.prior = prior_name(config.prior, setup.prior)
            on_progress(progress)
            last_losses = {k: v / max(counted, 1) for k, v in sums.items()}
            sums, counted, reported_step, last_report = {}, 0, step, time.perf_counter()
    optimizer_state = _cpu_state(run.opt_g.state_dict()) if warm_start.KEEP_OPTIMIZER_STATE else None
    return _Done(step, time.perf_counter() - start, sums, counted, last_losses, optimizer_state)


def _finish(run: _Run, setup: _Setup, config, done: _Done, should_stop, init) -> StyleModel:
    """The trained model with its summary."""
    summary = TrainSummary(
        steps=done.step, seconds=round(done.seconds, 3), preset=config.preset,
        loss={k: v for k, v in dataclasses.asdict(setup.loss_config).items() if k != "vgg_path"},
        final_losses={k: v / done.counted for k, v in done.sums.items()} if done.counted else done.last_losses,
        keyframe_indices=setup.idx, frame_size=[setup.h, setup.w], seed=config.seed,
        batch_size=config.resolved_batch(), patch_size=run.patch, learning_rate=run.lr,
        small_patch_steps=min(done.step, run.small_steps), small_patch_size=run.small_size,
        prior=prior_name(config.prior, setup.prior), device=setup.device.type,
        precision=str(setup.dtype).replace("torch.", ""), threads=torch.get_num_threads(),
        library_version=__version__, stopped_early=bool(should_stop is not None and should_stop()))
    if init is not None:
        summary.warm_start = warm_start.warm_start_record(init, done.step, run.continued, warm_start.WARM_LR_SCALE)
    model = StyleModel(run.generator, setup.gen_config, setup.guide_spec, summary)
    model.optimizer_state = done.optimizer_state
    return model


def learned_where(keyframes: Keyframes) -> torch.Tensor | None:
    """[K, H, W] where training learns: the masks times the coverage of registered keyframes (0 on the border
    an aligned keyframe does not cover); None when both are absent (everywhere)."""
    if keyframes.coverage is None:
        return None if keyframes.masks is None else keyframes.masks.clone()
    return keyframes.coverage.clone() if keyframes.masks is None else keyframes.masks * keyframes.coverage


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


def _cpu_state(state: dict) -> dict:
    """An optimizer state_dict with every tensor copied to the CPU."""
    return {"state": {k: {n: v.detach().cpu().clone() if torch.is_tensor(v) else v for n, v in s.items()}
                      for k, s in state["state"].items()},
            "param_groups": [dict(g) for g in state["param_groups"]]}
