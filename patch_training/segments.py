"""Cutting one clip into segments that are stylized apart (other processes, other machines) and equal the whole.

The guides of a frame depend on the keyframes around it and on the chained Gaussian pattern of the keyframes
before it (guides/stream.py). So a clip is cut in two passes:

- `survey`: one cheap sequential pass over the clip (optical flow, cuts, no stylization) that finds its shots
  and the image advected from each keyframe (the chained pattern), for a guided model;
- `plan_segments`: segments of at most `max_frames` frames; each reads from its anchor (the keyframe or shot
  start at or before it, `radius` frames earlier for the 'denoise' guide) and stylizes only its own frames,
  which then equal the whole clip's (stream.stream_guides' law, tests/unit/test_segments.py).

An RGB model (no guides) needs neither: any frame range is a segment.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .frames_io import FrameSource, to_uint8
from .guides.stream import stream_guides
from .inference import DEFAULT_TILE
from .models import StyleModel
from .outputs import FrameWriter
from .pipeline import check_guided_clip, guide_spec_of
from .streaming import stylize_stream


@dataclass(frozen=True)
class Segment:
    """Frames first..stop-1 of a clip, stylized from frames read from `read_from` on."""

    read_from: int
    first: int
    stop: int

    @property
    def name(self) -> str:
        return f"{self.first:06d}-{self.stop:06d}"


@dataclass
class Survey:
    """What segments of a clip need to know of the whole: its exact length, its shots (start, end) and, for a
    guided model, the image advected from each keyframe ({keyframe: [H + 2p, W + 2p, C] float32})."""

    frame_count: int
    shots: list[tuple[int, int]]
    sources: dict[int, np.ndarray]
    keyframes: list[int]
    radius: int

    def save(self, folder: Path) -> None:
        """As survey.json plus one float32 .npy per keyframe, each written under a temporary name and renamed."""
        folder.mkdir(parents=True, exist_ok=True)
        for k, image in self.sources.items():
            _atomic(folder / f"source-{k}.npy", lambda f, image=image: np.save(f, image, allow_pickle=False))
        meta = {"frame_count": self.frame_count, "shots": self.shots, "keyframes": self.keyframes,
                "radius": self.radius, "sources": sorted(self.sources)}
        _atomic(folder / "survey.json", lambda f: f.write(json.dumps(meta).encode()))

    @classmethod
    def load(cls, folder: Path) -> "Survey | None":
        """The survey saved in `folder`, or None when there is none (or only part of one)."""
        try:
            meta = json.loads((folder / "survey.json").read_text())
            sources = {int(k): np.load(folder / f"source-{k}.npy", allow_pickle=False) for k in meta["sources"]}
        except (OSError, ValueError, KeyError):
            return None
        return cls(meta["frame_count"], [tuple(s) for s in meta["shots"]], sources, meta["keyframes"],
                   meta["radius"])


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def survey(model: StyleModel, source: FrameSource, keyframes=None, masks=None, scratch=None) -> Survey:
    """The first pass over a clip (a FrameSource): its length and, for a guided model, its shots and the images
    advected from its keyframes. Reads every frame once; stylizes nothing. Raises what stream_guides raises."""
    spec = guide_spec_of(model)
    if spec is None:
        count = source.count()
        return Survey(count, [(0, count)], {}, [], 0)
    count = source.count()
    indices, masks = check_guided_clip(model, source.size, count, keyframes, masks)
    shots: list[tuple[int, int]] = []
    sources: dict[int, np.ndarray] = {}
    frames = (image for _, image in source.images())
    for _ in stream_guides(frames, spec, indices, masks=masks, keyframes=keyframes, frame_count=count,
                           scratch=scratch, on_shot=lambda s, e: shots.append((s, e)),
                           on_source=lambda k, image: sources.__setitem__(k, image)):
        pass
    radius = spec.denoise_radius if "denoise" in spec.guides else 0
    return Survey(count, shots, sources, list(indices), radius)


def plan_segments(found: Survey, max_frames: int) -> list[Segment]:
    """Segments of at most max_frames frames covering the clip once, in order. Cut at shot starts and keyframes
    where possible; a longer stretch is cut into equal pieces that read from the stretch's anchor."""
    anchors = sorted({s for s, _ in found.shots} | set(found.keyframes) | {0})
    shot_start = {}
    for s, e in found.shots:
        shot_start.update({t: s for t in anchors if s <= t < e})
    segments = []
    ends = anchors[1:] + [found.frame_count]
    for a, b in zip(anchors, ends):
        if b <= a:
            continue
        if not found.keyframes:  # RGB: each frame on its own
            read_from = None
        elif a in found.keyframes:  # the denoise guide reads frames before it, within its shot
            read_from = max(shot_start.get(a, 0), a - found.radius)
        else:  # a shot start
            read_from = a
        pieces = max(1, math.ceil((b - a) / max(max_frames, 1)))
        cuts = [a + round(i * (b - a) / pieces) for i in range(pieces + 1)]
        for first, stop in zip(cuts, cuts[1:]):
            segments.append(Segment(first if read_from is None else read_from, first, stop))
    return segments


def output_names(source: FrameSource, count: int) -> list[str]:
    """The file name of each stylized frame: the frame's own (a folder of frames), 00000.png... (a video)."""
    return list(source.names[:count]) if source.files is not None else [f"{t:05d}.png" for t in range(count)]


def stylize_segment(model: StyleModel, source: FrameSource, segment: Segment, found: Survey, out: Path,
                    keyframes=None, masks=None, batch_size: int = 4, tile: int = DEFAULT_TILE, device: str = "auto",
                    precision: str = "auto", threads: int = 0, scratch=None, on_progress=None) -> int:
    """Stylize one segment into the folder `out` (shared by the clip's segments): its frames are written to a
    hidden staging folder beside `out` (named with this process and machine) and moved into `out` at the end,
    so `out` only ever holds whole frames. Returns the number of frames written."""
    names = output_names(source, found.frame_count)
    writer = FrameWriter(out, overwrite=True, what="out", tag=segment.name)
    try:
        frames = (image for _, image in source.images(segment.read_from))
        for t, styled in stylize_stream(model, frames, found.frame_count, keyframes, masks, batch_size, tile,
                                        device, precision, threads, on_progress=on_progress, scratch=scratch,
                                        start=segment.read_from, first=segment.first, stop=segment.stop,
                                        sources=found.sources):
            writer.write(names[t], to_uint8(styled[None])[0])
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return writer.count


def segment_done(out: Path, names: list[str], segment: Segment) -> bool:
    """True when every frame of the segment is in `out` (each was moved there whole)."""
    return all((out / names[t]).is_file() for t in range(segment.first, segment.stop))

