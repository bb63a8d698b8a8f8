"""A clip's guides as one object: every frame's guides, the spec that made them, and their rows for training.

This is what ComfyUI passes between nodes as PATCH_GUIDES: Compute Guides makes it, Train Patch Model and
Stylize Frames take it. `make_guide_set` computes the optical flow once and uses it for both the inference
guides and the training guides (which differ only for 'warp', computed leave-one-out).

Masks place the Gaussian guide's blobs. A model keeps them, small (`encode_guide_masks`: at most
GUIDE_MASK_SIDE pixels a side, uint8), so that it stylizes from the frames alone; the guides are always
computed from that stored form (`decode_guide_masks`), at training as at stylization, so they are identical.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import GuideError, MaskError
from ..keyframes import Keyframes
from . import GuideProgress, GuideSpec, compute_flow, compute_guides, training_guides
from .auto import GuideChoice, choose_guides, is_auto
from .spec import parse_guides


@dataclass(frozen=True)
class GuideSet:
    """spec: how the guides were made; guides: [T, H, W, G] float32 0..1 for every frame; keyframe_indices: the
    keyframes they were made for; training: [K, H, W, G] rows at those keyframes as training sees them;
    masks: the keyframes' masks as stored in a model (encode_guide_masks), which placed the Gaussian blobs, or None;
    choice: what `guides: auto` chose and why (guides.auto.GuideChoice), None for guides given by name."""

    spec: GuideSpec
    guides: torch.Tensor
    keyframe_indices: tuple[int, ...]
    training: torch.Tensor
    masks: torch.Tensor | None = None
    choice: GuideChoice | None = None

    def check_keyframes(self, keyframe_indices) -> None:
        """Raise GuideError unless the guides were computed for these keyframes (they place the guides' patterns)."""
        indices = sorted(int(i) for i in keyframe_indices)
        if indices != sorted(self.keyframe_indices):
            raise GuideError(f"guides: computed for keyframes {list(self.keyframe_indices)}, but the model is "
                             f"trained on keyframes {indices}. Connect the same keyframes to Compute Guides and "
                             f"to training.")

    def preview(self) -> torch.Tensor:
        """The first guide as an IMAGE [T, H, W, 3] (a 1-channel guide as grey)."""
        name, start, stop = self.spec.layout[0]
        first = self.guides[..., start:stop]
        return first if stop - start == 3 else first[..., :1].expand(*first.shape[:3], 3).contiguous()


def choose_spec(guides: str, frames: torch.Tensor, keyframes: Keyframes, **settings) -> tuple[GuideSpec, GuideChoice | None]:
    """The GuideSpec of a `guides` text ('gauss, edges', or 'auto': guides.auto.choose_guides on the keyframes)
    with the other GuideSpec fields `settings`, and the choice auto made (None for guides given by name).
    frames: [T, H, W, 3], the clip the keyframes index. Raises GuideError."""
    if not is_auto(guides):
        return GuideSpec(guides=parse_guides(guides), **settings), None
    choice = choose_guides(frames[list(keyframes.indices)], keyframes.images, keyframes.masks)
    return GuideSpec(guides=choice.guides, **settings), choice


def make_guide_set(frames: torch.Tensor, spec: GuideSpec, keyframes: Keyframes,
                   on_progress=None, choice: GuideChoice | None = None) -> GuideSet:
    """Guides of `frames` [T, H, W, 3] for `keyframes` (indices, masks, stylized images for 'warp').
    choice: what `guides: auto` chose (choose_spec), kept in the GuideSet for the model's summary.

    on_progress(GuideProgress) as in guides.compute_guides (it may raise to cancel).
    Raises FramesError, KeyframeError, MaskError or GuideError with the input named.
    """
    if not spec.guides:
        raise GuideError("guides: expected at least one guide name (e.g. 'gauss, edges'), received none. Leave the "
                         "guides input of training empty instead to learn from the frames alone.")
    flow = None
    if spec.needs_flow and frames.shape[0] > 1:
        report = None if on_progress is None else (lambda d, n: on_progress(GuideProgress("flow", d, n)))
        flow = compute_flow(frames, spec.flow_preset, spec.flow_scale, report)
    # Only the Gaussian guide reads the masks; it reads them as the model will store them.
    code = encode_guide_masks(keyframes.masks) if keyframes.masks is not None and "gauss" in spec.guides else None
    masks = None if code is None else decode_guide_masks(code, *frames.shape[1:3])
    args = (frames, spec, list(keyframes.indices), masks, keyframes.images)
    guides = compute_guides(*args, flow=flow, on_progress=on_progress)
    training = (training_guides(*args, flow=flow) if spec.needs_keyframe_images
                else guides[list(keyframes.indices)])
    return GuideSet(spec, guides, tuple(keyframes.indices), training, code, choice)


# Longer side of a stored guide mask. The masks only place blobs of std 5 % of the frame's size (GuideSpec's
# gauss_radius) and fade them out: 128 px is 2.7 px per stored pixel at 350 px (the blobs' std: 17 px) and 15
# px at 1920 px (std: 72 px). 3 keyframes of 350x350 take 48 KB.
GUIDE_MASK_SIDE = 128


def encode_guide_masks(masks: torch.Tensor) -> torch.Tensor:
    """Keyframe masks [K, H, W] 0..1 -> the form a model stores: uint8 [K, h, w], area-averaged to a longer side
    of at most GUIDE_MASK_SIDE (never enlarged), 255 = valid style."""
    k, h, w = masks.shape
    scale = min(1.0, GUIDE_MASK_SIDE / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = F.interpolate(masks.detach().float().cpu()[:, None], size=size, mode="area")[:, 0]
    return (small.clamp(0, 1) * 255).round().to(torch.uint8)


def decode_guide_masks(code: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Stored guide masks uint8 [K, h', w'] -> float32 [K, H, W] 0..1 at the frame size (bilinear)."""
    if code.dtype != torch.uint8 or code.ndim != 3:
        raise MaskError(f"guide masks: expected uint8 [K, h, w] (encode_guide_masks), received {code.dtype} "
                        f"{list(code.shape)}.")
    x = code.float()[:, None] / 255
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)[:, 0].clamp(0, 1).contiguous()


def training_inputs(guide_set: GuideSet | None, keyframes: Keyframes) -> dict:
    """The guide arguments of train.loop.train_style_model for `guide_set` (None: none)."""
    if guide_set is None:
        return {}
    guide_set.check_keyframes(keyframes.indices)
    return {"guides": guide_set.guides, "keyframe_guides": guide_set.training, "guide_spec": guide_set.spec.to_dict()}
