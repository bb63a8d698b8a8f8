"""What a trained model needs to stylize: its guide spec, the clip and keyframes its guides are rebuilt from,
and those guides rebuilt (model_guides); checks of given guides against the model."""
from __future__ import annotations

import torch

from ..errors import FramesError, GuideError, KeyframeError, MaskError
from ..guides import GuideSpec, compute_guides
from ..guides.guide_set import GuideSet, decode_guide_masks
from ..memory import check_host_memory, guides_host_bytes
from ..model.networks import StyleModel


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
    legacy_masks = bool(model.summary.masks) and "gauss" in spec.guides and model.guide_masks is None
    return tuple(need for need, needed in (("keyframes", spec.needs_keyframe_images), ("masks", legacy_masks))
                 if needed)


def stylize_needs(model: StyleModel) -> str:
    """In words, what `model` needs to stylize (the `info` command says it)."""
    spec = guide_spec_of(model)
    if spec is None:
        return "frames only, of any size"
    h, w = model.summary.frame_size or ("?", "?")
    keys = model.summary.keyframe_indices or []
    text = (f"frames of {w}x{h} only: the clip it was trained on (its guides are rebuilt from the frames, from "
            f"the keyframes at frames {keys})")
    extra = {"keyframes": f"the stylized keyframes it was trained with (--keyframes), for "
                          f"{spec.say_keyframe_image_guides()}",
             "masks": "the keyframes' masks (--masks with --keyframes): a format 1 model trained with masks"}
    return "; ".join([text] + [f"and {extra[need]}" for need in guides_need(model)])


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
    h, w = summary.frame_size or size
    if tuple(size) != (h, w):
        raise FramesError(f"frames: this model's guides were built for {w}x{h} frames, received "
                          f"{size[1]}x{size[0]}. Stylize frames of the training size {w}x{h}, "
                          f"or train a model without guides to stylize other sizes.")
    indices = list(summary.keyframe_indices or [])
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
    trained = model.summary.frame_size
    if not trained or len(trained) != 2:
        return None
    scale = ((size[0] * size[1]) / max(trained[0] * trained[1], 1)) ** 0.5
    if 0.7 <= scale <= 1.4:
        return None
    return (f"these frames are {size[1]}x{size[0]}, the model learned its style on {trained[1]}x{trained[0]} "
            f"frames ({scale:.1f}x): its strokes keep their size in pixels, so the style comes out "
            f"{'finer' if scale > 1 else 'coarser'} than painted. For the painted look, train on frames of this "
            f"size, or stylize at the training size and scale the result.")


def check_guides_match(model: StyleModel, guide_set: GuideSet) -> None:
    """Raise GuideError unless `guide_set` was made like the guides `model` was trained with (spec and keyframes)."""
    model_guides = model.guides
    if not model_guides:
        raise GuideError("guides: this model was trained on the frames alone; received guides "
                         f"{guide_set.spec.describe()!r}. Disconnect the guides.")
    trained = GuideSpec.from_dict(model_guides).to_dict()
    given = guide_set.spec.to_dict()
    differ = sorted(k for k in trained if trained[k] != given.get(k))
    if differ:
        detail = ", ".join(f"{k}: trained {trained[k]!r}, received {given.get(k)!r}" for k in differ)
        raise GuideError(f"guides: expected guides computed with the settings the model was trained with; they "
                         f"differ in {detail}. Set Compute Guides like it was for training.")
    _check_masks_match(model.guide_masks, guide_set.masks, legacy=bool(model.summary.masks))
    trained_keys = model.summary.keyframe_indices
    if trained_keys is not None and sorted(trained_keys) != sorted(guide_set.keyframe_indices):
        raise GuideError(f"guides: computed for keyframes {list(guide_set.keyframe_indices)}, but the model was "
                         f"trained with keyframes {list(trained_keys)}. Compute the guides from the keyframes the "
                         f"model was trained on.")


def _check_masks_match(stored: torch.Tensor | None, given: torch.Tensor | None, legacy: bool) -> None:
    """The Gaussian blobs of `given` guides must be placed by the masks the model stored (a model of checkpoint
    format 1 trained with masks stored none: `legacy`, nothing to compare)."""
    if stored is None and legacy:
        return
    if stored is not None and given is not None and torch.equal(stored, given):
        return
    if stored is None and given is None:
        return
    detail = {(True, False): "computed without masks, but the model's Gaussian guide was placed by masks",
              (False, True): "computed with masks, but the model was trained without",
              (True, True): "computed with other masks than the model was trained with"}
    raise GuideError(f"guides: {detail[stored is not None, given is not None]}; the blobs would differ. Give "
                     f"Compute Guides the keyframes and masks the model was trained with, or leave the guides "
                     f"input empty: Stylize Frames then rebuilds them from the model.")
