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

Then every frame equals the whole clip's (stream.stream_guides' law; tests/unit/test_segments.py). An RGB
model (no guides) needs no pass: any frame range is a segment.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..frames.sources import FrameSource, to_uint8
from ..guides.compute import advected_names
from ..guides.stream import stream_guides
from ..config import DEFAULT_TILE
from ..model.networks import StyleModel
from ..frames.writers import FrameWriter
from .needs import check_guided_clip, guide_spec_of
from .stream import stylize_stream


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
    return plan_segments(frame_count, list(model.summary.get("keyframe_indices", [])), radius, max_frames,
                         chained(spec))


def chained(spec) -> bool:
    """Whether a keyframe's advected image depends on the keyframes before it (then segments need the pass)."""
    return spec is not None and spec.gauss_chain and "gauss" in advected_names(spec)


def survey(model: StyleModel, source: FrameSource, on_source: Callable[[int, np.ndarray], None], keyframes=None,
           masks=None, scratch=None) -> int:
    """The first pass over a guided model's clip: on_source(keyframe, image [H + 2p, W + 2p, C] float32) as the
    pass makes each keyframe's advected image. Reads the frames up to the last keyframe once (nothing after it
    changes an image); returns the frame count. Raises what stream_guides raises."""
    spec = guide_spec_of(model)
    count = source.count()
    indices, masks = check_guided_clip(model, source.size, count, keyframes, masks)
    frames = itertools.islice((image for _, image in source.images()), max(indices) + 1)
    for _ in stream_guides(frames, spec, indices, masks=masks, keyframes=keyframes, frame_count=count,
                           scratch=scratch, on_source=on_source, guides_from=count):
        pass
    return count


def output_names(source: FrameSource, count: int) -> list[str]:
    """The file name of each stylized frame: the frame's own (a folder of frames), 00000.png... (a video)."""
    return list(source.names[:count]) if source.files is not None else [f"{t:05d}.png" for t in range(count)]


def stylize_segment(model: StyleModel, source: FrameSource, segment: Segment, frame_count: int, out: Path,
                    given: dict[int, np.ndarray] | None = None, keyframes=None, masks=None, batch_size: int = 4,
                    tile: int = DEFAULT_TILE, device: str = "auto", precision: str = "auto", threads: int = 0,
                    scratch=None, on_progress=None) -> int:
    """Stylize one segment of a clip of frame_count frames into the folder `out` (shared by the clip's
    segments). given: {segment.source: its advected image} from the first pass, when the segment has one.
    Frames are written to a hidden staging folder beside `out` (named with this process and machine) and moved
    into `out` at the end, so `out` only ever holds whole frames. Returns the number of frames written."""
    names = output_names(source, frame_count)
    writer = FrameWriter(out, overwrite=True, what="out", tag=segment.name)
    try:
        frames = (image for _, image in source.images(segment.read_from))
        for t, styled in stylize_stream(model, frames, frame_count, keyframes, masks, batch_size, tile,
                                        device, precision, threads, on_progress=on_progress, scratch=scratch,
                                        start=segment.read_from, first=segment.first, stop=segment.stop,
                                        sources=given):
            writer.write(names[t], to_uint8(styled[None])[0])
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return writer.count


def segment_done(out: Path, names: list[str], segment: Segment) -> bool:
    """True when every frame of the segment is in `out` (each was moved there whole)."""
    return all((out / names[t]).is_file() for t in range(segment.first, segment.stop))

