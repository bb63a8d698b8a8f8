"""Stylizing from files to files: the one path of the command line's `stylize`, ComfyUI's Stylize Video File and
a batch job's segments. Frames are read, stylized and written one batch at a time (any length, flat memory);
writers stage their frames and move them into place at the end, so an error or a cancel leaves nothing partial.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ..config import StylizeOptions
from ..frames.sources import FrameSource, to_uint8
from ..frames.writers import FrameWriter
from ..guides.compute import advected_names
from ..keyframes import Keyframes
from ..memory import check_host_memory, stream_host_bytes
from ..model.networks import StyleModel
from ..stylize.needs import guide_spec_of
from ..stylize.segments import Segment
from ..stylize.stream import stylize_stream
from ..stylize.tiled import STYLIZE_FIXES
from .render_record import (RenderRecord, input_digest, keyframe_changes, keyframe_digests, model_digest,
                            read_record, render_settings, why_all, write_record)


def output_names(source: FrameSource, count: int) -> list[str]:
    """The file name of each stylized frame: the frame's own name as a PNG (lossless, whatever the source's
    format: a folder of frames), 00000.png, 00001.png, ... (a video)."""
    return [f"{Path(name).stem}.png" for name in source.names[:count]]


def output_writer(out: str | Path, source: FrameSource, fps: float = 0.0, metadata: dict | None = None,
                  overwrite: bool = False, what: str = "--out") -> FrameWriter:
    """The writer of `source` stylized into `out` (a folder, or a video file, frames.writers.FrameWriter).

    A video runs at `fps` (0 = the source video's, 25 for a folder of frames) and carries the source video's
    audio while its speed is kept (fps 0 or the source's own); `metadata`: tags written into it (ComfyUI's prompt
    and workflow). What a user should know (no audio, odd sizes padded, no H.264) is in the writer's notes."""
    keeps_speed = source.fps is not None and (not fps or abs(fps - source.fps) < 1e-3)
    video_source = source.files is None
    writer = FrameWriter(out, fps or source.fps or 25.0, overwrite, what,
                         audio_from=source.path if video_source and keeps_speed else None, metadata=metadata)
    if writer.video and video_source and not keeps_speed:
        writer.notes.append(f"the source's audio (if any) was left out: fps {fps:g} changes the speed of the clip "
                            f"({source.fps:g} frames/s); fps 0 keeps it and the audio")
    return writer


def check_stylize_memory(model: StyleModel, source: FrameSource, options: StylizeOptions) -> None:
    """Raise MemoryLimitError, before anything is read, unless stylizing `source` as a stream fits in memory."""
    spec = guide_spec_of(model)
    needed = stream_host_bytes(model.config, *source.size, 0 if spec is None else spec.channels,
                               0 if spec is None else 3 * len(advected_names(spec)), options.batch_size, options.tile)
    check_host_memory(needed, f"stylizing frames of {source.size[1]}x{source.size[0]}", STYLIZE_FIXES)


def stylize_files(model: StyleModel, source: FrameSource, writers: Sequence[FrameWriter],
                  options: StylizeOptions = StylizeOptions(), keyframes: Keyframes | None = None,
                  frame_count: int | None = None, segment: Segment | None = None,
                  given: dict[int, np.ndarray] | None = None, scratch=None,
                  on_progress: Callable[[int, int], None] | None = None,
                  on_frame: Callable[[int, torch.Tensor], None] | None = None, record: bool = False) -> int:
    """Stylize the frames of `source` into every writer (committed together at the end, or all aborted on an
    error or cancel); return the number of frames written.

    keyframes: the stylized keyframes, for a model whose guides need them (stylize.needs.guides_need).
    frame_count: the clip's length (default: the folder's; a video's container may only estimate it).
    segment: only that part of the clip (stylize.segments), with `given`, the first pass's advected image of
    its source keyframe. on_progress(done, total) after each batch (it may raise to cancel), on_frame(t,
    stylized [H, W, 3] float32 0..1) after each frame. record: write a render record (render_record.py) into
    every folder writer after its frames, for a later update_files. Raises MemoryLimitError before reading when
    the machine lacks the memory (the writers' staging places removed), and what stylize_stream raises.
    """
    return _render(model, source, writers, options, keyframes, frame_count, segment, given, scratch, on_progress,
                   on_frame, record, None).frames


@dataclasses.dataclass(frozen=True)
class UpdateSummary:
    """What update_files did: `rendered` of `frames` frames re-rendered, and why."""

    frames: int
    rendered: int
    reason: str

    def message(self) -> str:
        return f"{self.rendered} of {self.frames} frames re-rendered: {self.reason}"


def update_files(model: StyleModel, source: FrameSource, previous: str | Path, writers: Sequence[FrameWriter],
                 options: StylizeOptions = StylizeOptions(), keyframes: Keyframes | None = None,
                 frame_count: int | None = None, scratch=None,
                 on_progress: Callable[[int, int], None] | None = None,
                 on_frame: Callable[[int, torch.Tensor], None] | None = None,
                 what: str = "--update") -> UpdateSummary:
    """stylize_files over a previous output: only the frames whose output can change are stylized again, the
    others are taken from the folder `previous` (a folder of frames with its render record); the result equals a
    full render, bit for bit. writers may include `previous` itself (opened with overwrite: its frames are
    replaced only at the commit). Every folder writer gets the new record.

    The guides are computed for every frame as in a full render (a frame's digest is a hash of its network
    input); the network runs only on the batches holding a frame whose digest changed or whose file is gone, each
    batch whole (a forward pass sees the same frames as in a full render). Raises RecordError (naming `what`)
    when `previous` has no readable record, and what stylize_files raises."""
    record = read_record(previous, what)
    return _render(model, source, writers, options, keyframes, frame_count, None, None, scratch, on_progress,
                   on_frame, True, (Path(previous), record))


@dataclasses.dataclass
class _Result:
    frames: int
    rendered: int
    missing: int


def _render(model, source, writers, options, keyframes, frame_count, segment, given, scratch, on_progress,
            on_frame, record, previous) -> UpdateSummary | _Result:
    if frame_count is None and source.files is not None:
        frame_count = len(source)
    part = {} if segment is None else {"start": segment.read_from, "first": segment.first, "stop": segment.stop,
                                       "sources": given}
    model_hash = model_digest(model) if record else ""
    settings = render_settings(options, source.size) if record else {}
    digests: dict[int, str] = {}
    names: list[str] = []
    counts = _Result(0, 0, 0)
    every = None
    if previous is not None:
        every = why_all(previous[1], model_hash, settings, output_names(source, len(source)))

    def name_of(t: int) -> str:
        nonlocal names
        if t >= len(names):  # a video's names grow as its frames are read
            names = output_names(source, len(source))
        return names[t]

    def reuse(batch):
        new = {t: input_digest(frame, guide) for t, frame, guide in batch}
        digests.update(new)
        if previous is None:
            return None
        if every is None and all(previous[1].frames.get(name_of(t)) == d for t, d in new.items()):
            files = [previous[0] / name_of(t) for t in new]
            if all(f.is_file() for f in files):
                return [torch.from_numpy(np.array(Image.open(f).convert("RGB"))).float().div(255) for f in files]
            counts.missing += sum(not f.is_file() for f in files)
        counts.rendered += len(batch)
        return None

    try:
        check_stylize_memory(model, source, options)
        frames = (image for _, image in source.images(part.get("start", 0)))
        for t, styled in stylize_stream(model, frames, frame_count, keyframes, options, on_progress=on_progress,
                                        scratch=scratch, reuse=reuse if record else None, **part):
            image = to_uint8(styled[None])[0]
            for writer in writers:
                writer.write(name_of(t), image)
            if on_frame is not None:
                on_frame(t, styled)
            counts.frames += 1
        for writer in writers:
            writer.commit()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    if record:
        done = RenderRecord(model_hash, settings, keyframe_digests(keyframes),
                            {name_of(t): digests[t] for t in sorted(digests)})
        for writer in writers:
            note = None if writer.video else write_record(writer.out, done)
            if note:
                writer.notes.append(note)
    if previous is None:
        return counts
    return UpdateSummary(counts.frames, counts.rendered, _reason(previous[1], done, every, counts))


def _reason(previous: RenderRecord, now: RenderRecord, every: str | None, counts: _Result) -> str:
    if every is not None:
        return every
    if counts.rendered == 0:
        return "nothing changed; the model is the same"
    why = [keyframe_changes(previous, now.keyframes)]
    changed = sum(previous.frames.get(name) != d for name, d in now.frames.items())
    if not why[0] and changed:
        why.append(f"{changed} frame{'s' if changed > 1 else ''}' input changed (the source frame or its guides)")
    if counts.missing:
        why.append(f"{counts.missing} frame file{'s' if counts.missing > 1 else ''} missing from the previous output")
    why.append("the model is the same")
    return "; ".join(w for w in why if w)


def stylize_segment(model: StyleModel, source: FrameSource, segment: Segment, frame_count: int, out: Path,
                    given: dict[int, np.ndarray] | None = None, keyframes: Keyframes | None = None,
                    options: StylizeOptions = StylizeOptions(), scratch=None, on_progress=None) -> int:
    """Stylize one segment of a clip of frame_count frames into the folder `out` (shared by the clip's
    segments). given: {segment.source: its advected image} from the first pass, when the segment has one.
    Frames are written to a hidden staging folder beside `out` (named with this process and machine) and moved
    into `out` at the end, so `out` only ever holds whole frames. Returns the number of frames written."""
    writer = FrameWriter(out, overwrite=True, what="out", tag=segment.name)
    return stylize_files(model, source, [writer], options, keyframes, frame_count, segment, given, scratch,
                         on_progress)


def segment_done(out: Path, names: list[str], segment: Segment) -> bool:
    """True when every frame of the segment is in `out` (each was moved there whole)."""
    return all((out / names[t]).is_file() for t in range(segment.first, segment.stop))
