"""Training on a clip of any length, streamed: only the frames training uses (the keyframes' and the preview
frame's, with their guides) are kept, so memory does not grow with the clip's length."""
from __future__ import annotations

import dataclasses

import os
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from ..config import TrainConfig
from ..errors import GuideError, KeyframeError
from ..guides import GuideSpec, shot_coverage
from ..guides.guide_set import GuideSet, decode_guide_masks, encode_guide_masks
from ..guides.stream import DEFAULT_STORE_BUDGET_MB, as_float_frame, stream_guides
from ..keyframes import Keyframes
from ..model.networks import StyleModel
from .fit import fit_style
from .progress import TrainProgress, default_preview_index


def fit_style_stream(frames: Iterable[np.ndarray], frame_count: int, keyframes: Keyframes,
                     config: TrainConfig = TrainConfig(), spec: GuideSpec | None = None,
                     on_progress: Callable[[TrainProgress], None] | None = None,
                     should_stop: Callable[[], bool] | None = None, notes: list[str] | None = None,
                     store_budget_mb: float = DEFAULT_STORE_BUDGET_MB,
                     scratch: str | os.PathLike | None = None, init: StyleModel | None = None,
                     on_frames: Callable[[int, int], None] | None = None) -> StyleModel:
    """fit.fit_style on a clip of any length, holding only the frames training uses (init: a model to
    continue, as there).

    frames: the clip one frame at a time ([H, W, 3] uint8 or float32 0..1); frame_count: its length.
    Keeps the keyframes' frames and guides and the preview frame's (the middle frame that is not a keyframe):
    the same model as fit_style(whole clip, ...), in memory that does not grow with the clip's length.
    notes: if given, receives a line per shot saying which keyframes cover it. The 'warp' guide's training
    rows (each keyframe from the others, leave-one-out) are not streamed: GuideError asks for the whole clip.
    on_frames(done, frame_count) follows the pass over the clip that comes before training: the guides' pass
    reads the whole clip (its cuts and motion), a model without guides stops after the last frame it keeps.
    """
    if spec is not None and spec.needs_keyframe_images:
        names = spec.say_keyframe_image_guides()
        raise GuideError(f"guides: {names} {'is' if names.endswith('guide') else 'are'} trained leave-one-out (each "
                         f"keyframe from the others), which is computed on the whole clip; use fit_style with the "
                         f"frames in memory, or drop {names}.")
    idx = list(keyframes.indices)
    preview = default_preview_index(frame_count, idx)
    wanted = sorted(set(idx) | {preview})
    guided = spec is not None and bool(spec.guides)
    if on_frames is not None:
        frames = _counted(frames, frame_count if guided else min(max(wanted) + 1, frame_count), on_frames)
    kept: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    code = None
    if guided:
        # Only the Gaussian guide reads the masks; it reads them as the model will store them (as make_guide_set).
        if keyframes.masks is not None and "gauss" in spec.guides:
            code = encode_guide_masks(keyframes.masks)
        masks = None if code is None else decode_guide_masks(code, *keyframes.images.shape[1:3])
        shots: list[tuple[int, int]] = []
        stream = stream_guides(frames, spec, idx, masks=masks, frame_count=frame_count,
                               store_budget_mb=store_budget_mb, scratch=scratch,
                               on_shot=lambda s, e: shots.append((s, e)), only=wanted)
        for t, frame, guides in stream:
            if t in wanted:
                kept[t] = (frame, guides)

        if notes is not None and spec.detect_cuts and len(shots) > 1:
            notes.extend(info.describe() for info in shot_coverage(shots, idx))
    else:
        for t, frame in enumerate(frames):
            if t in wanted:
                kept[t] = (as_float_frame(np.asarray(frame)), None)
            if t >= max(wanted):  # nothing later is used
                break
    missing = [t for t in idx if t not in kept]
    if missing:
        raise KeyframeError(f"keyframe_indices: expected frame numbers from 0 to {len(kept) - 1}, received "
                            f"{missing}: the clip is shorter. Pick keyframes from the clip's frames.")
    wanted = [t for t in wanted if t in kept]
    position = {t: n for n, t in enumerate(wanted)}
    sub_frames = torch.from_numpy(np.stack([kept[t][0] for t in wanted]))
    sub_keys = dataclasses.replace(keyframes, indices=tuple(position[t] for t in idx))
    guide_set = None
    if spec is not None and spec.guides:
        guides = torch.from_numpy(np.stack([kept[t][1] for t in wanted]))
        guide_set = GuideSet(spec, guides, sub_keys.indices, guides[list(sub_keys.indices)], code)
    kept.clear()  # stacked above: the copies are what training reads
    model = fit_style(sub_frames, sub_keys, config, spec if guide_set is not None else None, on_progress,
                      should_stop, position.get(preview, position[idx[0]]), guide_set, init=init)
    model.summary.keyframe_indices = idx
    return model


def _counted(frames: Iterable, total: int, on_frames: Callable[[int, int], None]) -> Iterator:
    """frames, calling on_frames(n, total) as the n-th is taken."""
    for n, frame in enumerate(frames, 1):
        on_frames(n, total)
        yield frame
