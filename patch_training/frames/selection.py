"""Choosing frames of a clip: index lists ("0, 24, 48", "10-20", "every 24"), frame ranges, and reading a subset.

Frame numbers are 0-based positions in the clip (or in the image batch). Index lists keep the order they are
written in, because a list of stylized keyframes is paired with its indices by position.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import FramesError
from .sources import FrameSource, read_image, to_tensor

_NUMBER = re.compile(r"^-?\d+$")
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")
_EVERY = re.compile(r"^every\s+(\d+)$", re.IGNORECASE)
SYNTAX = "frame numbers separated by commas ('0, 24, 48'), ranges ('10-20'), 'every N', or -1 for the last frame"


def check_index_syntax(text: str, name: str = "indices") -> None:
    """Raise FramesError unless `text` is a well-formed, non-empty index list (the frame count is not needed)."""
    _tokens(text, name)


def parse_indices(text: str, count: int, name: str = "indices") -> list[int]:
    """'0, 24, 48' / '10-20' / 'every 24' / '-1' -> frame numbers in 0..count-1, in the order written.

    Ranges include both ends; 'every N' is 0, N, 2N, ... below count; a negative number counts from the end.
    Raises FramesError naming `name` on bad syntax, numbers out of range, or a frame listed twice.
    """
    if count < 1:
        raise FramesError(f"{name}: there are no frames to pick from (the image batch is empty).")
    out: list[int] = []
    for kind, a, b in _tokens(text, name):
        if kind == "every":
            out.extend(range(0, count, a))
        elif kind == "range":
            out.extend(range(a, b + 1))
        else:
            out.append(a + count if a < 0 else a)
    bad = sorted({i for i in out if not 0 <= i < count})
    if bad:
        raise FramesError(f"{name}: expected frame numbers from 0 to {count - 1} (there are {count} frames), "
                          f"received {_shown(bad)} in {text!r}. Pick frames that exist, or load more frames.")
    twice = sorted({i for i in out if out.count(i) > 1})
    if twice:
        raise FramesError(f"{name}: each frame may be listed once, received {_shown(twice)} more than once in "
                          f"{text!r}.")
    return out


def format_indices(indices: list[int]) -> str:
    """[0, 24, 48] -> '0, 24, 48' (parse_indices reads it back)."""
    return ", ".join(str(int(i)) for i in indices)


def frame_range(total: int, start: int = 0, count: int = 0, every_nth: int = 1, name: str = "start") -> list[int]:
    """Frame numbers start, start + every_nth, ... of a clip of `total` frames, at most `count` (0 = no limit)."""
    if every_nth < 1:
        raise FramesError(f"every_nth: expected 1 or more (1 = every frame), received {every_nth}.")
    if count < 0:
        raise FramesError(f"count: expected 0 (all frames) or more, received {count}.")
    if not 0 <= start < total:
        raise FramesError(f"{name}: expected a frame number from 0 to {total - 1} (the clip has {total} frames), "
                          f"received {start}. Lower it.")
    picked = list(range(start, total, every_nth))
    return picked[:count] if count else picked


def fit_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) scaled down, aspect ratio kept, so that the longer side is at most max_side (0 = as is)."""
    if max_side < 0:
        raise FramesError(f"max_side: expected 0 (no limit) or a size in pixels, received {max_side}.")
    if not max_side or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def read_frames(path: str | Path, start: int = 0, count: int = 0, every_nth: int = 1, max_side: int = 0,
                what: str = "source") -> tuple[torch.Tensor, list[str]]:
    """Read some frames of a clip (a folder of images in name order, or a video): [N, H, W, 3] float32 0..1, names.

    Frames start, start + every_nth, ... (at most count, 0 = to the end), downscaled (area filter) so that the
    longer side is at most max_side (0 = original size). Only the chosen frames are decoded from a folder;
    a video is read once, front to back. Raises FramesError naming `what`.
    """
    source = FrameSource(path, what)
    wanted = frame_range(len(source), start, count, every_nth)
    h, w = fit_size(*source.size, max_side)
    images: list[np.ndarray] = []
    names: list[str] = []
    for name, image in _decode(source, wanted):
        if image.shape[:2] != tuple(source.size):
            raise FramesError(f"{what}: all frames must have one size; {name} is {image.shape[1]}x{image.shape[0]}, "
                              f"the first frame is {source.size[1]}x{source.size[0]}. Resize the frames to one size.")
        if (h, w) != image.shape[:2]:
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        images.append(image)
        names.append(name)
    if not images:
        raise FramesError(f"{what}: {path} has no frame from number {start} on (OpenCV decoded fewer frames than "
                          f"the video's header announces). Lower start.")
    return to_tensor(images), names


def read_frames_at(source: FrameSource, indices: list[int]) -> tuple[torch.Tensor, list[str]]:
    """The frames at `indices` (in that order) of a clip: [K, H, W, 3] float32 0..1 and their file names. Only those
    frames are decoded. Raises FramesError when a video holds fewer frames than its header announced."""
    found = dict(_decode(source, sorted(indices)))
    names = [source.names[i] for i in indices]
    missing = [i for i, name in zip(indices, names) if name not in found]
    if missing:
        raise FramesError(f"{source.what}: frames {_shown(missing)} could not be decoded from {source.path} (OpenCV "
                          f"decoded fewer frames than the video's header announces). Pick earlier frames.")
    for name in names:
        if found[name].shape[:2] != tuple(source.size):
            image = found[name]
            raise FramesError(f"{source.what}: all frames must have one size; {name} is {image.shape[1]}x"
                              f"{image.shape[0]}, the first frame is {source.size[1]}x{source.size[0]}. Resize the "
                              f"frames to one size.")
    return to_tensor([found[name] for name in names]), names


def _decode(source: FrameSource, wanted: list[int]):
    if source.files is not None:
        for i in wanted:
            yield source.files[i].name, read_image(source.files[i], source.what)
        return
    keep, last = set(wanted), wanted[-1]
    cap = cv2.VideoCapture(str(source.path))
    try:
        for i in range(last + 1):
            if not cap.grab():  # grab() skips without decoding into an image
                return
            if i in keep:
                ok, frame = cap.retrieve()
                if not ok:
                    return
                yield f"{i:05d}.png", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def _tokens(text, name: str) -> list[tuple[str, int, int]]:
    if not isinstance(text, str) or not text.strip():
        raise FramesError(f"{name}: expected at least one frame number ({SYNTAX}), received {text!r}.")
    tokens = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        if _NUMBER.match(part):
            tokens.append(("index", int(part), 0))
        elif m := _RANGE.match(part):
            a, b = int(m[1]), int(m[2])
            if b < a:
                raise FramesError(f"{name}: the range {part!r} ends before it starts; write it as '{b}-{a}'.")
            tokens.append(("range", a, b))
        elif m := _EVERY.match(part):
            if int(m[1]) < 1:
                raise FramesError(f"{name}: 'every N' needs N of 1 or more, received {part!r}.")
            tokens.append(("every", int(m[1]), 0))
        else:
            raise FramesError(f"{name}: cannot read {part!r} in {text!r}; expected {SYNTAX}.")
    if not tokens:
        raise FramesError(f"{name}: expected at least one frame number ({SYNTAX}), received {text!r}.")
    return tokens


def _shown(values: list[int], limit: int = 8) -> str:
    return str(values[:limit])[:-1] + ", ...]" if len(values) > limit else str(values)


def strip_indices(frame_count: int, count: int) -> list[int]:
    """`count` frame numbers spread evenly over a clip of `frame_count` frames, first and last included (all
    frames when the clip is shorter)."""
    if count <= 0 or frame_count <= 0:
        return []
    if count >= frame_count:
        return list(range(frame_count))
    if count == 1:
        return [frame_count // 2]
    return sorted({round(i * (frame_count - 1) / (count - 1)) for i in range(count)})
