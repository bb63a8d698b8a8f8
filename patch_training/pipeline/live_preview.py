"""A live session's preview: how much of the clip it shows and how often (LiveSettings), and the folder it writes
it to (strip/ with the strip's frames, status.json, save.request read), every file replaced atomically."""
from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OutputExistsError, PatchToonError
from ..train.progress import PREVIEW_MAX_SIDE

SAVE_REQUEST = "save.request"  # a file of this name in the output folder asks for the model to be saved now
STATUS = "status.json"
STRIP = "strip"
OWN = {SAVE_REQUEST, STATUS, STRIP}  # what a session writes in its output folder


@dataclass(frozen=True)
class LiveSettings:
    """How the session runs. strip_frames: frames spread over the clip kept current; refresh_s: how often at
    most; max_share: at most this fraction of the time goes to rendering them (the refresh waits longer when
    rendering takes more); poll_s: how often the keyframe folder is looked at; ramp_s: the cold start's
    learning-rate schedule (train.live)."""

    strip_frames: int = 5
    refresh_s: float = 1.0
    max_share: float = 0.2
    poll_s: float = 0.25
    ramp_s: float = 30.0
    strip_side: int = PREVIEW_MAX_SIDE
    on_change: str = "auto"  # learning rate after a change: warm, cold, auto (cold when no keyframe is kept as it was)

    def check(self) -> None:
        if self.strip_frames < 1:
            raise PatchToonError(f"--strip: expected 1 frame or more, received {self.strip_frames}.")
        if not 0 < self.max_share <= 1:
            raise PatchToonError(f"--max-share: expected a fraction in (0, 1], received {self.max_share}.")
        if self.on_change not in ("auto", "warm", "cold"):
            raise PatchToonError(f"--on-change: expected auto, warm or cold, received {self.on_change!r}.")
        if self.refresh_s <= 0 or self.poll_s <= 0:
            raise PatchToonError(f"--refresh: expected seconds > 0, received {self.refresh_s}.")


def output_folder(out: Path) -> Path:
    """`out`, made if needed; refused when it holds anything a session does not write (nothing a user saved is
    replaced)."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--preview: {out} is a file; give a folder for the strip and status.json.")
    out.mkdir(parents=True, exist_ok=True)
    foreign = sorted(p.name for p in out.iterdir() if p.name not in OWN and not p.name.startswith(".live-"))
    if foreign:
        raise OutputExistsError(f"--preview: {out} holds {foreign[:5]}, which a live session did not write; it "
                                f"never replaces them. Give an empty or new folder (or a previous session's).")
    (out / STRIP).mkdir(exist_ok=True)
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give: mkstemp's files are private (0600)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`: a reader sees the old file or
    the new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=".live-", suffix=".partial", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_png(path: Path, image: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    write_atomic(path, buffer.getvalue())



def write_preview(out: Path, strip: dict[str, np.ndarray], status: dict) -> None:
    """The strip's frames (name -> [h, w, 3] uint8) into out/strip/, then out/status.json, each atomically."""
    for name, image in strip.items():
        _write_png(out / STRIP / name, image)
    write_atomic(out / STATUS, json.dumps(status, indent=1).encode())
