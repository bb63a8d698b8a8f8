"""Keyframes: which frames of the sequence were stylized, their stylized images and optional masks."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import KeyframeError, MaskError, check_image_batch


@dataclass(frozen=True)
class Keyframes:
    """indices: frame numbers into the sequence (0-based, unique, ascending);
    images: stylized frames [K, H, W, 3] float32 0..1; masks: [K, H, W] float 0..1 (1 = valid style) or None;
    coverage: [K, H, W] float 0..1, 0 on the border a registered keyframe does not cover (frames.align), or None
    when each covers its frame: training learns only where masks and coverage are both 1, while the masks alone
    place the Gaussian guide; alignment: one report per keyframe (frames.align.AlignmentReport.as_dict()), or
    None when the keyframes were not registered."""

    indices: tuple[int, ...]
    images: torch.Tensor
    masks: torch.Tensor | None = None
    coverage: torch.Tensor | None = None
    alignment: tuple[dict, ...] | None = None

    def __len__(self) -> int:
        return len(self.indices)


def make_keyframes(indices, images: torch.Tensor, masks: torch.Tensor | None = None,
                   frames: torch.Tensor | None = None, resize: bool = True, coverage: torch.Tensor | None = None,
                   alignment=None) -> tuple[Keyframes, list[str]]:
    """Validate and build Keyframes; returns (keyframes, notes) where notes say what was adjusted.

    With `frames` given ([T, H, W, 3]), indices must lie in 0..T-1 and images must match the frame size;
    images (and masks) that differ only in resolution are resized to the frame size when `resize` is true.
    coverage ([K, H, W] at the images' size) and alignment (K report dicts), from frames.align.align_keyframes,
    are kept beside them, in the order of `indices` as given.
    Raises KeyframeError / MaskError with the input named.
    """
    check_image_batch("keyframes", images)
    indices = check_indices(indices, images.shape[0], None if frames is None else frames.shape[0])
    notes: list[str] = []
    if frames is not None:
        h, w = frames.shape[1:3]
        if images.shape[1:3] != (h, w):
            if not resize or not _same_aspect(images.shape[1:3], (h, w)):
                raise KeyframeError(f"keyframes: expected images of the frames' size {w}x{h} (width x height), "
                                    f"received {images.shape[2]}x{images.shape[1]}. Stylize the keyframes at the "
                                    f"frame size, or crop them to the frames' aspect ratio.")
            notes.append(f"keyframes resized from {images.shape[2]}x{images.shape[1]} to the frame size {w}x{h}")
            images = resize_images(images, h, w)
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
            masks = resize_images(masks[..., None], *images.shape[1:3])[..., 0]
        masks = masks.float().clamp(0, 1)
        empty = [indices[k] for k in range(len(indices)) if float(masks[k].max()) < 0.5]
        if empty:
            raise MaskError(f"masks: the masks of keyframes {empty} are empty (no white pixels): nothing to learn "
                            f"from. White marks where the keyframe's style is valid.")
    if coverage is not None and tuple(coverage.shape) != tuple(images.shape[:3]):
        raise MaskError(f"coverage: expected one map per keyframe at the keyframes' size, shape "
                        f"{list(images.shape[:3])}, received shape {list(coverage.shape)}.")
    if alignment is not None and len(alignment) != len(indices):
        raise KeyframeError(f"alignment: expected one report per keyframe ({len(indices)}), received "
                            f"{len(alignment)}.")
    order = sorted(range(len(indices)), key=indices.__getitem__)
    keyframes = Keyframes(tuple(indices[k] for k in order), images[order].contiguous(),
                          None if masks is None else masks[order].contiguous(),
                          None if coverage is None else coverage.float().clamp(0, 1)[order].contiguous(),
                          None if alignment is None else tuple(dict(alignment[k]) for k in order))
    return keyframes, notes


def check_indices(indices, count: int, frame_count: int | None = None) -> tuple[int, ...]:
    """The keyframes' frame numbers as ints: one per stylized image (`count`), unique, in 0..frame_count-1
    when the clip's length is known. Raises KeyframeError."""
    indices = tuple(int(i) for i in indices)
    if len(indices) != count:
        raise KeyframeError(f"keyframe indices: expected one frame number per stylized keyframe "
                            f"({count} images), received {len(indices)} indices {list(indices)}.")
    if len(set(indices)) != len(indices):
        raise KeyframeError(f"keyframe indices: each frame may be stylized once, received duplicates in "
                            f"{list(indices)}.")
    if frame_count is not None:
        bad = [i for i in indices if not 0 <= i < frame_count]
        if bad:
            raise KeyframeError(f"keyframe indices: expected frame numbers from 0 to {frame_count - 1} (the video "
                                f"has {frame_count} frames), received {bad}. Pick keyframes from the loaded "
                                f"frames, or load more frames.")
    return indices


def _same_aspect(a, b, tolerance: float = 0.02) -> bool:
    return abs(a[0] / a[1] - b[0] / b[1]) <= tolerance * (b[0] / b[1])


def resize_images(images: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """[K, h, w, C] -> [K, H, W, C] float32 0..1 (bilinear, antialiased when shrinking)."""
    x = images.permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return x.permute(0, 2, 3, 1).clamp(0, 1).contiguous()
