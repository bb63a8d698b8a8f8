"""Cutting one clip into segments that are stylized apart (other processes, other machines) and equal the whole.

The guides of a frame depend on the keyframes around it, and a keyframe's Gaussian pattern on the keyframes
before it (GuideSpec.gauss_chain: guides/stream.py). So:

- `plan_segments`: segments of at most `max_frames` frames, cut at keyframes where possible. Each reads from
  its anchor (the latest keyframe at or before it, `radius` frames earlier for the 'denoise' guide; frame 0
  before the first keyframe) and stylizes only its own frames. Cuts need not be known: the stream finds
  those it reads, as the whole clip's stream does.
- `survey`: one sequential pass over the clip (optical flow, cuts, advection; no guides rendered, no
  stylization: about a seventh of stylizing it) that hands on the image advected from each keyframe as it
  passes it. A segment anchored at keyframe a > 0 needs a's image and nothing else of the pass, so it can
  start as soon as the pass has passed a.

Then every frame equals the whole clip's (stream.stream_guides' law; tests/unit/stylize/test_segments.py). An RGB
model (no guides) needs no pass: any frame range is a segment.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..frames.sources import FrameSource
from ..guides.compute import advected_names
from ..guides.stream import stream_guides
from ..keyframes import Keyframes
from ..model.networks import StyleModel
from .needs import check_guided_clip, guide_spec_of


@dataclass(frozen=True)
class Segment:
    """Frames first..stop-1 of a clip, stylized from frames read from `read_from` on, with the image advected
    from keyframe `source` (the first pass's) given, or None when the stream makes what it needs itself."""

    read_from: int
    first: int
    stop: int
    source: int | None = None

    @property
    def name(self) -> str:
        return f"{self.first:06d}-{self.stop:06d}"


def plan_segments(frame_count: int, keyframes: list[int], radius: int, max_frames: int,
                  advected: bool = True) -> list[Segment]:
    """Segments of at most max_frames frames covering frames 0..frame_count-1 once, in order. keyframes: the
    guided model's (empty for an RGB model); radius: the 'denoise' guide's (0 without it); advected: whether
    a keyframe's advected image depends on the keyframes before it (`chained`): segments then need the first
    pass's."""
    anchors = sorted(set(keyframes) | {0})
    segments = []
    for a, b in zip(anchors, anchors[1:] + [frame_count]):
        if b <= a:
            continue
        if not keyframes:      # RGB: each frame on its own
            read_from, source = None, None
        elif a in keyframes:   # the denoise guide reads frames before it; a cut between is found again
            read_from, source = max(0, a - radius), (a if a > 0 and advected else None)
        else:                  # the clip's start, before its first keyframe: nothing chained yet
            read_from, source = 0, None
        pieces = max(1, math.ceil((b - a) / max(max_frames, 1)))
        cuts = [a + round(i * (b - a) / pieces) for i in range(pieces + 1)]
        for first, stop in zip(cuts, cuts[1:]):
            segments.append(Segment(first if read_from is None else read_from, first, stop, source))
    return segments


def guided_plan(model: StyleModel, frame_count: int, max_frames: int) -> list[Segment]:
    """plan_segments for `model`'s clip of frame_count frames."""
    spec = guide_spec_of(model)
    if spec is None:
        return plan_segments(frame_count, [], 0, max_frames)
    radius = spec.denoise_radius if "denoise" in spec.guides else 0
    return plan_segments(frame_count, list(model.summary.keyframe_indices or []), radius, max_frames,
                         chained(spec))


def chained(spec) -> bool:
    """Whether a keyframe's advected image depends on the keyframes before it (then segments need the pass)."""
    return spec is not None and spec.gauss_chain and "gauss" in advected_names(spec)


def survey(model: StyleModel, source: FrameSource, on_source: Callable[[int, np.ndarray], None],
           keyframes: Keyframes | None = None, scratch=None) -> int:
    """The first pass over a guided model's clip: on_source(keyframe, image [H + 2p, W + 2p, C] float32) as the
    pass makes each keyframe's advected image. Reads the frames up to the last keyframe once (nothing after it
    changes an image); returns the frame count. Raises what stream_guides raises."""
    spec = guide_spec_of(model)
    count = source.count()
    images, masks = (None, None) if keyframes is None else (keyframes.images, keyframes.masks)
    indices, masks = check_guided_clip(model, source.size, count, images, masks)
    frames = itertools.islice((image for _, image in source.images()), max(indices) + 1)
    for _ in stream_guides(frames, spec, indices, masks=masks, keyframes=images, frame_count=count,
                           scratch=scratch, on_source=on_source, guides_from=count):
        pass
    return count
