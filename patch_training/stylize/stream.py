"""Stylizing a clip of any length as a stream: frames in, guides made, stylized and handed on batch by batch.

Nothing of the whole clip is held: a guided model's guides come from guides.stream_guides (identical to the
whole-clip guides), an RGB model's frames go straight to the network. The result equals
tiled.stylize(model, whole clip, model_guides(...)) frame for frame.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from ..config import BATCH_PIXELS, StylizeOptions
from ..guides.stream import DEFAULT_STORE_BUDGET_MB, as_float_frame, stream_guides
from ..keyframes import Keyframes
from ..model.networks import StyleModel
from .needs import check_guided_clip, guide_spec_of
from .tiled import model_inputs, stylize_chunks


def stylize_stream(model: StyleModel, frames: Iterable[np.ndarray], frame_count: int | None = None,
                   keyframes: Keyframes | None = None, options: StylizeOptions = StylizeOptions(),
                   on_progress: Callable[[int, int], None] | None = None,
                   store_budget_mb: float = DEFAULT_STORE_BUDGET_MB,
                   scratch: str | os.PathLike | None = None, start: int = 0, first: int | None = None,
                   stop: int | None = None, sources: dict[int, np.ndarray] | None = None,
                   reuse: Callable[[list[tuple[int, np.ndarray, np.ndarray | None]]], list[torch.Tensor] | None]
                   | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (t, stylized frame [H, W, 3] float32 0..1) for t = 0, 1, ... in order.

    frames: the clip one frame at a time, [H, W, 3] uint8 or float32 0..1 numpy. A guided model's guides are
    rebuilt as in needs.model_guides (the clip it was trained on; the stylized keyframes for 'warp' and
    'page', their masks for a model of format 1 trained with masks). frame_count: the clip's length when known (progress, early checks).
    on_progress(done, total) after each batch (it may raise to cancel; total is 0 when unknown).
    store_budget_mb, scratch: see guides.stream_guides. Raises FramesError, KeyframeError, GuideError.

    A part of the clip (segments.py): `frames` begin at frame `start`; only frames first..stop-1 (default: all
    from `start`) are stylized and yielded, and the frames are read no further than those need. A guided
    model needs `sources` (segments.survey) unless `start` is 0, and `first` where its guides are the whole
    clip's (segments.plan_segments says where).

    reuse(batch): called with each batch of network inputs, [(t, frame [H, W, 3] float32, guide row [H, W, G]
    float32 or None)], before it is stylized; returning the batch's stylized frames (as they would come out)
    skips the network for it, None stylizes it. Batches are the same for the same clip, batch_size and frame
    size, so a batch kept whole never mixes kept and new frames in one forward pass.
    """
    spec = guide_spec_of(model)
    first = start if first is None else first
    if spec is None:
        stream = ((t, as_float_frame(np.asarray(f)), None) for t, f in enumerate(frames, start))
    else:
        stream = _guided(model, spec, frames, frame_count, keyframes, store_budget_mb, scratch, start, sources,
                         first)
    batch: list[tuple[int, np.ndarray, np.ndarray | None]] = []
    sized = False
    for item in stream:
        if item[0] < first:
            continue
        if not sized:  # as tiled.stylize_chunks: about a megapixel of frames at a time
            h, w = item[1].shape[:2]
            batch_size, sized = max(1, min(options.batch_size, BATCH_PIXELS // (h * w))), True
        batch.append(item)
        last = stop is not None and item[0] >= stop - 1
        if len(batch) == batch_size or last:
            yield from _run(model, batch, options, reuse)
            batch = []
            if on_progress is not None:
                on_progress(item[0] + 1, frame_count or 0)
        if last:
            return
    if batch:
        yield from _run(model, batch, options, reuse)
        if on_progress is not None:
            on_progress(batch[-1][0] + 1, frame_count or 0)


def _guided(model, spec, frames, frame_count, keyframes, store_budget_mb, scratch, start, sources, guides_from):
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        return
    first = np.asarray(first)
    images, masks = (None, None) if keyframes is None else (keyframes.images, keyframes.masks)
    indices, masks = check_guided_clip(model, first.shape[:2], frame_count, images, masks)

    def clip():
        yield first
        yield from frames

    yield from stream_guides(clip(), spec, indices, masks=masks, keyframes=images, frame_count=frame_count,
                             store_budget_mb=store_budget_mb, scratch=scratch, start=start, sources=sources,
                             guides_from=guides_from)


def _run(model, batch, options: StylizeOptions, reuse=None) -> Iterator[tuple[int, torch.Tensor]]:
    kept = None if reuse is None else reuse(batch)
    if kept is not None:
        for (t, _, _), styled in zip(batch, kept, strict=True):
            yield t, styled
        return
    frames = torch.from_numpy(np.stack([f for _, f, _ in batch]))
    guides = None if batch[0][2] is None else torch.from_numpy(np.stack([g for _, _, g in batch]))
    x = model_inputs(model, frames, guides)
    for first, styled in stylize_chunks(model, x, dataclasses.replace(options, batch_size=len(batch))):
        for i in range(styled.shape[0]):
            yield batch[first + i][0], styled[i]
