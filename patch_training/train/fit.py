"""One-call training and stylization with frame-consistency guides: what the CLI, the demo and ComfyUI use.

`fit_style` computes the guides a GuideSpec asks for (optical flow once, guides at the keyframes for training,
the preview frame's guides), trains, and records the spec in the model; `model_guides` rebuilds, for
stylization, exactly the guides a model was trained with.
"""
from __future__ import annotations

import logging
from typing import Callable

import torch

from ..config import PRESETS, TrainConfig
from ..errors import FramesError, GuideError, KeyframeError, MaskError
from ..memory import check_host_memory, guides_host_bytes, training_host_bytes
from ..guides.guide_set import GuideSet, decode_guide_masks, make_guide_set, training_inputs
from ..guides import GuideSpec, compute_guides, detect_shots, shot_coverage
from ..keyframes import Keyframes
from ..model.networks import StyleModel
from ..runtime import resolve_device
from .loop import TrainProgress, train_style_model

TRAIN_FIXES = ("Train on smaller frames (Load Frames' max_side, or a resized clip), on fewer frames (Load Frames' "
               "count: the keyframes' shots only), or with fewer guides (RGB only: no Compute Guides, --guides rgb).")

log = logging.getLogger(__name__)


def guide_spec_of(model: StyleModel) -> GuideSpec | None:
    """The model's GuideSpec, or None for a model trained on the frames alone."""
    if not model.guides or not model.guides.get("guides"):
        return None
    return GuideSpec.from_dict(model.guides)


def guides_need(model: StyleModel) -> tuple[str, ...]:
    """What rebuilding the model's guides needs besides the frames: 'keyframes' (the stylized keyframes, for
    the 'warp' guide) and/or 'masks' (a checkpoint of format 1 trained with masks, which placed the Gaussian
    blobs: newer models store them); () for none."""
    spec = guide_spec_of(model)
    if spec is None:
        return ()
    legacy_masks = bool(model.summary.get("masks")) and "gauss" in spec.guides and model.guide_masks is None
    return tuple(need for need, needed in (("keyframes", spec.needs_keyframe_images), ("masks", legacy_masks))
                 if needed)


def stylize_needs(model: StyleModel) -> str:
    """In words, what `model` needs to stylize (the `info` command says it)."""
    spec = guide_spec_of(model)
    if spec is None:
        return "frames only, of any size"
    h, w = model.summary.get("frame_size", ("?", "?"))
    keys = model.summary.get("keyframe_indices", [])
    text = (f"frames of {w}x{h} only: the clip it was trained on (its guides are rebuilt from the frames, from "
            f"the keyframes at frames {keys})")
    extra = {"keyframes": f"the stylized keyframes it was trained with (--keyframes), for "
                          f"{spec.say_keyframe_image_guides()}",
             "masks": "the keyframes' masks (--masks with --keyframes): a format 1 model trained with masks"}
    return "; ".join([text] + [f"and {extra[need]}" for need in guides_need(model)])


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
    show while training and as model.strip (both as in trainer.train_style_model). Returns the StyleModel with the guide spec as its `guides` and, in its summary,
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
    model = train_style_model(frames, keyframes, config, **training_inputs(guide_set, keyframes),
                              on_progress=on_progress, should_stop=should_stop, preview_index=preview_index,
                              init=init, strip_frames=strip_frames)
    model.summary["masks"] = keyframes.masks is not None
    model.guide_masks = None if guide_set is None else guide_set.masks  # what placed the Gaussian guide
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
                                 on_gpu=resolve_device(config.device).type == "cuda")
    guides = f", guides {spec.describe()}" if spec is not None else ""
    check_host_memory(needed, f"training on {frames} frames of {width}x{height} ({keyframes} keyframes{guides})",
                      TRAIN_FIXES)


def model_guides(model: StyleModel, frames: torch.Tensor, keyframes: torch.Tensor | None = None,
                 masks: torch.Tensor | None = None, on_progress=None) -> torch.Tensor | None:
    """The guides `model` was trained with, rebuilt for `frames` [T, H, W, 3]: [T, H, W, G], or None.

    The keyframe indices come from the model's training summary, so the frames must be the clip it was
    trained on (or one of the same length and size whose keyframes are at the same frame numbers).
    keyframes: the stylized keyframes [K, H, W, 3] (needed by the 'warp' guide); masks: [K, H, W], only for a
    model of checkpoint format 1 trained with masks (they placed the Gaussian blobs; newer models store them
    and use their own). on_progress(GuideProgress) as in guides.compute_guides (it may raise to cancel).
    """
    spec = guide_spec_of(model)
    if spec is None:
        return None
    indices, masks = check_guided_clip(model, tuple(frames.shape[1:3]), frames.shape[0], keyframes, masks)
    t, h, w = frames.shape[:3]
    check_host_memory(guides_host_bytes(t, h, w, spec.channels, spec.needs_flow),
                      f"rebuilding the guides {spec.describe()} of {t} frames of {w}x{h}",
                      "Stylize a shorter clip (cut it where the keyframes' shots end), or stylize from the files "
                      "(command line, or Stylize Video File in ComfyUI), which streams any length.")
    return compute_guides(frames, spec, indices, masks=masks, keyframes=keyframes, on_progress=on_progress)


def check_guided_clip(model: StyleModel, size: tuple[int, int], count: int | None, keyframes=None,
                      masks=None) -> tuple[list[int], torch.Tensor | None]:
    """(keyframe numbers, masks [K, H, W] or None) that a guided model's guides are rebuilt from, after checking
    that a clip of `count` frames (None: not known yet) of `size` (H, W) and the given keyframes/masks let them
    be rebuilt: the masks are the model's own where it stores them (format 2), else those given."""
    summary = model.summary
    h, w = summary.get("frame_size", size)
    if tuple(size) != (h, w):
        raise FramesError(f"frames: this model's guides were built for {w}x{h} frames, received "
                          f"{size[1]}x{size[0]}. Stylize frames of the training size {w}x{h}, "
                          f"or train a model without guides to stylize other sizes.")
    indices = list(summary.get("keyframe_indices", []))
    if not indices or (count is not None and max(indices) >= count):
        raise KeyframeError(f"frames: this model's guides start from keyframes at frames {indices}, received a clip "
                            f"of {count} frames. Give the clip the model was trained on.")
    needs = guides_need(model)
    if "keyframes" in needs and keyframes is None:
        raise GuideError(f"keyframes: this model uses {guide_spec_of(model).say_keyframe_image_guides()}; give the "
                         f"stylized keyframes it was trained with (--keyframes, or the keyframes input) to stylize.")
    if "masks" in needs and masks is None:
        raise MaskError("masks: this model was trained with masks, which placed its Gaussian guide; give the same "
                        "masks (--masks, or the keyframes' masks) to rebuild identical guides.")
    if model.guide_masks is not None:  # format 2: the model's own masks, as they placed the blobs at training
        masks = decode_guide_masks(model.guide_masks, h, w)
    return indices, masks


def scale_note(model: StyleModel, size: tuple[int, int]) -> str | None:
    """A warning when frames of `size` (H, W) are much larger or smaller than those the model learned from:
    the style's strokes keep their size in pixels, so they come out finer or coarser than painted. Measured on
    the sample (benchmarks/cross_size.py): trained at 175x175, stylized at 350x350: 0.27 SSIM on the non-key
    frames; stylized at 175 and upscaled: 0.40; trained and stylized at 350: 0.43."""
    trained = model.summary.get("frame_size")
    if not trained or len(trained) != 2:
        return None
    scale = ((size[0] * size[1]) / max(trained[0] * trained[1], 1)) ** 0.5
    if 0.7 <= scale <= 1.4:
        return None
    return (f"these frames are {size[1]}x{size[0]}, the model learned its style on {trained[1]}x{trained[0]} "
            f"frames ({scale:.1f}x): its strokes keep their size in pixels, so the style comes out "
            f"{'finer' if scale > 1 else 'coarser'} than painted. For the painted look, train on frames of this "
            f"size, or stylize at the training size and scale the result.")
