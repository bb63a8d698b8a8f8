"""Checks and conversions of the guides' inputs (frames, keyframe indices, stylized keyframes, masks)."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import FramesError, KeyframeError, MaskError, check_image_batch


def as_numpy_frames(frames, name: str = "frames") -> np.ndarray:
    """[T, H, W, 3] float32 numpy (contiguous) from a torch tensor, a numpy array, or a list of [H, W, 3] frames.

    Raises FramesError for another shape, an empty sequence or frames of different sizes.
    """
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise FramesError(f"{name}: expected at least one frame, received an empty list.")
        sizes = sorted({tuple(f.shape) for f in frames})
        if len(sizes) > 1:
            raise FramesError(f"{name}: expected frames of one size, received sizes {[list(s) for s in sizes]} "
                              f"(height, width, channels). Resize the frames to one size first.")
        frames = torch.stack([torch.as_tensor(np.asarray(f)) if not isinstance(f, torch.Tensor) else f
                              for f in frames])
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(frames)
    check_image_batch(name, frames)
    if min(frames.shape[1:3]) < 1:
        raise FramesError(f"{name}: expected an image batch of shape [T, H, W, 3] with T >= 1, "
                          f"received shape {list(frames.shape)}.")
    return np.ascontiguousarray(frames.detach().to("cpu", torch.float32).numpy())


def check_keyframe_indices(keyframe_indices, t: int) -> list[int]:
    """The indices as ints, in the given order. Raises KeyframeError for none, duplicates or out of 0..t-1."""
    try:
        indices = [int(i) for i in keyframe_indices]
    except (TypeError, ValueError):
        raise KeyframeError(f"keyframe_indices: expected a list of frame numbers, received {keyframe_indices!r}.")
    if not indices:
        raise KeyframeError("keyframe_indices: expected at least one keyframe (the frame numbers the style "
                            "was painted on), received none. Pass e.g. [0].")
    bad = [i for i in indices if not 0 <= i < t]
    if bad:
        raise KeyframeError(f"keyframe_indices: expected frame numbers from 0 to {t - 1} (the video has {t} "
                            f"frames), received {bad}. Pick keyframes from the loaded frames, or load more frames.")
    if len(set(indices)) != len(indices):
        raise KeyframeError(f"keyframe_indices: each frame may be a keyframe once, received {indices}.")
    return indices


def as_keyframe_images(keyframes, indices: list[int], h: int, w: int) -> np.ndarray:
    """[K, H, W, 3] float32 numpy of the stylized keyframes, one per index. Raises KeyframeError on mismatch."""
    if keyframes is None:
        raise KeyframeError("keyframes: the 'warp' and 'page' guides are made from the stylized keyframes, received "
                            "none. Pass the stylized keyframes [K, H, W, 3], or drop 'warp' and 'page' from the "
                            "guides.")
    try:
        x = as_numpy_frames(keyframes, "keyframes")
    except ValueError as e:
        raise KeyframeError(str(e)) from None
    if x.shape[0] != len(indices):
        raise KeyframeError(f"keyframes: expected one stylized image per keyframe index ({len(indices)}: "
                            f"{indices}), received {x.shape[0]} images.")
    if x.shape[1:3] != (h, w):
        raise KeyframeError(f"keyframes: expected images of the frames' size {w}x{h} (width x height), received "
                            f"{x.shape[2]}x{x.shape[1]}. Resize the stylized keyframes to the frame size.")
    return x


def as_masks(masks, indices: list[int], t: int, h: int, w: int) -> dict[int, np.ndarray] | None:
    """{frame index: [H, W] float32 0..1 mask} for each keyframe, or None when masks is None.

    masks: [K, H, W] (one per keyframe, in the order of `indices`) or [T, H, W] (one per frame); a trailing
    channel axis of 1 is accepted. Raises MaskError for another shape or an empty mask at a keyframe.
    """
    if masks is None:
        return None
    if isinstance(masks, np.ndarray):
        masks = torch.from_numpy(masks)
    if not isinstance(masks, torch.Tensor):
        raise MaskError(f"masks: expected a tensor [K, H, W], received {type(masks).__name__}.")
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    k = len(indices)
    if masks.ndim != 3 or masks.shape[0] not in (k, t) or tuple(masks.shape[1:]) != (h, w):
        raise MaskError(f"masks: expected shape [{k}, {h}, {w}] (one mask per keyframe) or [{t}, {h}, {w}] "
                        f"(one per frame), received {list(masks.shape)}. Masks must have the frames' size; "
                        f"resize them first.")
    m = np.clip(masks.detach().to("cpu", torch.float32).numpy(), 0.0, 1.0)
    # K masks are per keyframe; with K == T both readings agree only for indices 0..T-1 in order: K wins.
    per_key = {i: m[n] for n, i in enumerate(indices)} if m.shape[0] == k else {i: m[i] for i in indices}
    empty = [i for i, mi in per_key.items() if mi.max() < 0.5]
    if empty:
        raise MaskError(f"masks: the masks of keyframes {empty} are empty (no pixel above 0.5). White (1) marks "
                        f"where the keyframe's style is valid; pass a non-empty mask or no mask.")
    return per_key
