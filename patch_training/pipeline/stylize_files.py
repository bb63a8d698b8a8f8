"""Stylizing from files to files: the one path of the command line's `stylize`, ComfyUI's Stylize Video File and
a batch job's segments. Frames are read, stylized and written one batch at a time (any length, flat memory);
writers stage their frames and move them into place at the end, so an error or a cancel leaves nothing partial.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

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
                  on_frame: Callable[[int, torch.Tensor], None] | None = None) -> int:
    """Stylize the frames of `source` into every writer (committed together at the end, or all aborted on an
    error or cancel); return the number of frames written.

    keyframes: the stylized keyframes, for a model whose guides need them (stylize.needs.guides_need).
    frame_count: the clip's length (default: the folder's; a video's container may only estimate it).
    segment: only that part of the clip (stylize.segments), with `given`, the first pass's advected image of
    its source keyframe. on_progress(done, total) after each batch (it may raise to cancel), on_frame(t,
    stylized [H, W, 3] float32 0..1) after each frame. Raises MemoryLimitError before reading when the machine
    lacks the memory (the writers' staging places removed), and what stylize_stream raises.
    """
    if frame_count is None and source.files is not None:
        frame_count = len(source)
    part = {} if segment is None else {"start": segment.read_from, "first": segment.first, "stop": segment.stop,
                                       "sources": given}
    written = 0
    try:
        check_stylize_memory(model, source, options)
        frames = (image for _, image in source.images(part.get("start", 0)))
        names: list[str] = []
        for t, styled in stylize_stream(model, frames, frame_count, keyframes, options, on_progress=on_progress,
                                        scratch=scratch, **part):
            if t >= len(names):  # a video's names grow as its frames are read
                names = output_names(source, len(source))
            image = to_uint8(styled[None])[0]
            for writer in writers:
                writer.write(names[t], image)
            if on_frame is not None:
                on_frame(t, styled)
            written += 1
        for writer in writers:
            writer.commit()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    return written


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
