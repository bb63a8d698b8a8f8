"""Training with frame-consistency guides in one call: what the command line, the demo and ComfyUI use.

`fit_style` computes the guides a GuideSpec asks for (optical flow once, guides at the keyframes for training,
the preview frame's guides), trains, and records the spec in the model; stylize.needs.model_guides rebuilds,
for stylization, exactly the guides a model was trained with.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

import torch

from ..config import PRESETS, TrainConfig
from ..errors import KeyframeError
from ..guides import GuideSpec, detect_shots, shot_coverage
from ..guides.guide_set import GuideSet, make_guide_set, training_inputs
from ..memory import check_host_memory, training_host_bytes
from ..keyframes import Keyframes
from ..model.networks import StyleModel
from ..runtime import cpu_precision, on_device_or_cpu, resolve_device
from .loop import train_style_model
from .progress import TrainProgress

TRAIN_FIXES = ("Train on smaller frames (Load Frames' max_side, or a resized clip), on fewer frames (Load Frames' "
               "count: the keyframes' shots only), or with fewer guides (RGB only: no Compute Guides, --guides rgb).")

log = logging.getLogger(__name__)


def describe_shots(frames: torch.Tensor, keyframe_indices, spec: GuideSpec | None) -> list[str]:
    """Lines saying which shots were found and which keyframes cover them (a shot without one is a warning)."""
    if spec is None or not spec.detect_cuts or frames.shape[0] < 2:
        return []
    shots = detect_shots(frames)
    return [info.describe() for info in shot_coverage(shots, list(keyframe_indices))]


def fit_style(frames: torch.Tensor, keyframes: Keyframes, config: TrainConfig = TrainConfig(),
              spec: GuideSpec | None = None, on_progress: Callable[[TrainProgress], None] | None = None,
              should_stop: Callable[[], bool] | None = None, preview_index: int | None = None,
              guide_set: GuideSet | None = None, init: StyleModel | None = None,
              strip_frames: int = 0) -> StyleModel:
    """Train a style model on `frames` [T, H, W, 3] and `keyframes`, with the guides of `spec` (None: RGB only).

    guide_set: guides already computed for these frames and keyframes (make_guide_set; ComfyUI's Compute
    Guides), used instead of computing `spec`'s. The stylized keyframes feed the 'warp' guide; the masks place
    the Gaussian blobs. init: a model to continue (warm start), strip_frames: frames spread over the clip to
    show while training and as model.strip (both as in train.loop.train_style_model). Returns the StyleModel with the guide spec as its `guides` and, in its summary,
    whether masks were used (model_guides needs them again then).
    """
    computed = spec if guide_set is None and spec is not None and spec.guides else None
    check_training_memory(frames.shape[0], *frames.shape[1:3], len(keyframes), config,
                          3 + (guide_set.spec.channels if guide_set is not None else 0), computed)
    if computed is not None:
        if spec.needs_keyframe_images and len(keyframes) < 2:
            names = spec.say_keyframe_image_guides()
            raise KeyframeError(f"keyframes: {names} learn{'s' if names.endswith('guide') else ''} each keyframe from "
                                f"the others (warped onto it, or what they show on the page), so "
                                f"{'it needs' if names.endswith('guide') else 'they need'} at least 2 keyframes, "
                                f"received {len(keyframes)}. Add a keyframe or drop {names}.")
        guide_set = make_guide_set(frames, spec, keyframes)
    first = resolve_device(config.device)

    def train(dev: torch.device) -> StyleModel:  # on `first`, or on the CPU when it lacks an operation
        settings = config if dev == first else replace(config, device=dev.type,
                                                       precision=cpu_precision(config.precision, dev))
        return train_style_model(frames, keyframes, settings, **training_inputs(guide_set, keyframes),
                                 on_progress=on_progress, should_stop=should_stop, preview_index=preview_index,
                                 init=init, strip_frames=strip_frames)
    model = on_device_or_cpu(train, first, "training")
    model.summary.masks = keyframes.masks is not None
    model.guide_masks = None if guide_set is None else guide_set.masks  # what placed the Gaussian guide
    if guide_set is not None and guide_set.choice is not None:
        model.summary.guides_auto = guide_set.choice.to_dict()
    return model


def check_training_memory(frames: int, height: int, width: int, keyframes: int, config: TrainConfig,
                          in_channels: int = 3, spec: GuideSpec | None = None, frames_held: bool = True) -> None:
    """Raise MemoryLimitError unless fit_style fits in the memory available (memory.training_host_bytes).

    in_channels: RGB plus the channels of guides already computed; spec: guides still to compute (None: none);
    frames_held: the clip and keyframes are in memory already (else they count too: before reading them).
    """
    if config.preset not in PRESETS:
        return  # config.validate() names the preset
    computing = spec.channels if spec is not None else 0
    network = PRESETS[config.preset].with_inputs(in_channels + computing)
    needed = training_host_bytes(network, frames, height, width, keyframes, config.resolved_batch(),
                                 config.resolved_patch(), computing, frames_held,
                                 on_gpu=resolve_device(config.device).type in ("cuda", "xpu"))
    guides = f", guides {spec.describe()}" if spec is not None else ""
    check_host_memory(needed, f"training on {frames} frames of {width}x{height} ({keyframes} keyframes{guides})",
                      TRAIN_FIXES)
