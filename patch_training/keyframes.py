"""Keyframes: which frames of the sequence were stylized, their stylized images and optional masks."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import KeyframeError, MaskError, check_image_batch


@dataclass(frozen=True)
class Keyframes:
    """indices: frame numbers into the sequence (0-based, unique, ascending);
    images: stylized frames [K, H, W, 3] float32 0..1; masks: [K, H, W] float 0..1 (1 = valid style) or None."""

    indices: tuple[int, ...]
    images: torch.Tensor
    masks: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.indices)


def make_keyframes(indices, images: torch.Tensor, masks: torch.Tensor | None = None,
                   frames: torch.Tensor | None = None, resize: bool = True) -> tuple[Keyframes, list[str]]:
    """Validate and build Keyframes; returns (keyframes, notes) where notes say what was adjusted.

    With `frames` given ([T, H, W, 3]), indices must lie in 0..T-1 and images must match the frame size;
    images (and masks) that differ only in resolution are resized to the frame size when `resize` is true.
    Raises KeyframeError / MaskError with the input named.
    """
    check_image_batch("keyframes", images)
    indices = tuple(int(i) for i in indices)
    notes: list[str] = []
    if len(indices) != images.shape[0]:
        raise KeyframeError(f"keyframe indices: expected one frame number per stylized keyframe "
                            f"({images.shape[0]} images), received {len(indices)} indices {list(indices)}.")
    if len(set(indices)) != len(indices):
        raise KeyframeError(f"keyframe indices: each frame may be stylized once, received duplicates in "
                            f"{list(indices)}.")
    if frames is not None:
        t, h, w = frames.shape[:3]
        bad = [i for i in indices if not 0 <= i < t]
        if bad:
            raise KeyframeError(f"keyframe indices: expected frame numbers from 0 to {t - 1} (the video has {t} "
                                f"frames), received {bad}. Pick keyframes from the loaded frames, or load more frames.")
        if images.shape[1:3] != (h, w):
            if not resize or not _same_aspect(images.shape[1:3], (h, w)):
                raise KeyframeError(f"keyframes: expected images of the frames' size {w}x{h} (width x height), "
                                    f"received {images.shape[2]}x{images.shape[1]}. Stylize the keyframes at the "
                                    f"frame size, or crop them to the frames' aspect ratio.")
            notes.append(f"keyframes resized from {images.shape[2]}x{images.shape[1]} to the frame size {w}x{h}")
            images = _resize(images, h, w)
    images = images.float().clamp(0, 1)
    if masks is not None:
        if masks.ndim == 4 and masks.shape[-1] in (1, 3):
            masks = masks[..., 0]  # an IMAGE used as a mask: its first channel
        if masks.ndim != 3 or masks.shape[0] != images.shape[0]:
            raise MaskError(f"masks: expected one mask per keyframe, shape [{images.shape[0]}, H, W], "
                            f"received shape {list(masks.shape)}.")
        if masks.shape[1:] != images.shape[1:3]:
            if not resize or not _same_aspect(masks.shape[1:], images.shape[1:3]):
                raise MaskError(f"masks: expected the keyframes' size {images.shape[2]}x{images.shape[1]}, "
                                f"received {masks.shape[2]}x{masks.shape[1]}.")
            notes.append(f"masks resized from {masks.shape[2]}x{masks.shape[1]} to {images.shape[2]}x{images.shape[1]}")
            masks = _resize(masks[..., None], *images.shape[1:3])[..., 0]
        masks = masks.float().clamp(0, 1)
        empty = [indices[k] for k in range(len(indices)) if float(masks[k].max()) < 0.5]
        if empty:
            raise MaskError(f"masks: the masks of keyframes {empty} are empty (no white pixels): nothing to learn "
                            f"from. White marks where the keyframe's style is valid.")
    order = sorted(range(len(indices)), key=indices.__getitem__)
    keyframes = Keyframes(tuple(indices[k] for k in order), images[order].contiguous(),
                          None if masks is None else masks[order].contiguous())
    return keyframes, notes


def _same_aspect(a, b, tolerance: float = 0.02) -> bool:
    return abs(a[0] / a[1] - b[0] / b[1]) <= tolerance * (b[0] / b[1])


def _resize(images: torch.Tensor, h: int, w: int) -> torch.Tensor:
    x = images.permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return x.permute(0, 2, 3, 1).clamp(0, 1).contiguous()
