"""Writing stylized frames so that nothing partial is ever left in place: a folder of images or a video file.

Frames go to a hidden staging place beside the output (`.NAME.PID.partial`: a folder, or a video file) and
are moved into place by `commit()`; `abort()` (an error, Ctrl-C, ComfyUI's Cancel) removes them. A run killed
outright (SIGKILL, power loss) leaves only the hidden staging place, never a half-written output: the next run
on the same output removes staging places whose process is gone and says so.
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OutputExistsError, PatchToonError
from .video_out import OPENCV_CODECS, open_video

VIDEO_CODECS = OPENCV_CODECS  # the video file suffixes a writer takes (H.264 through PyAV where it can)


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_CODECS


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(out: Path) -> list[Path]:
    """Remove the staging places of earlier runs on `out` whose process has ended; returns what was removed.

    A staging place tagged with another machine's name (a batch segment on shared storage, FrameWriter's
    `tag`) is left alone: its process id means nothing here."""
    removed = []
    if not out.parent.is_dir():
        return removed
    for p in out.parent.glob(f".{out.name}.*.partial*"):
        try:
            pid = int(p.name[len(out.name) + 2:].split(".", 1)[0])
        except ValueError:
            continue
        host = p.name.split(".partial", 1)[1]
        if host.startswith("@") and host[1:].split("@", 1)[0] != socket.gethostname():
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p)
    return removed


class FrameWriter:
    """Stylized frames to `out`: a folder (one image per frame, under the frame's name) or a video file.

    overwrite: replace files of the same names in a non-empty folder / an existing video. fps: the video's
    frame rate. audio_from: a video file whose audio the video carries (when it has audio); metadata: tags
    written into the video (values that are not strings as JSON); both only with PyAV (frames.video_out). tag: added to the staging place's name, after this machine's name (several writers of one
    process into one folder on storage shared by machines: batch segments). Raises OutputExistsError before
    anything is written when `out` is in the way.
    """

    def __init__(self, out: str | os.PathLike, fps: float = 25.0, overwrite: bool = False, what: str = "--out",
                 tag: str = "", audio_from: str | os.PathLike | None = None, metadata: dict | None = None):
        self.out, self.fps, self.what = Path(out), float(fps), what
        self.audio_from, self.metadata = (None if audio_from is None else Path(audio_from)), metadata
        self.video = is_video_path(self.out)
        if self.video:
            if self.out.exists() and (self.out.is_dir() or not overwrite):
                raise OutputExistsError(f"{what}: {self.out} already exists; it is never replaced silently. Choose "
                                        f"another name, or add --overwrite to replace it.")
        elif self.out.exists() and not self.out.is_dir():
            raise OutputExistsError(f"{what}: {self.out} exists and is not a folder. Give a folder for the stylized "
                                    f"frames, or a video file name ({', '.join(VIDEO_CODECS)}).")
        elif self.out.is_dir() and any(self.out.iterdir()) and not overwrite:
            raise OutputExistsError(f"{what}: the folder {self.out} is not empty; its files are never replaced "
                                    f"silently. Choose a new folder, or add --overwrite to replace files of the "
                                    f"same names.")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.removed = clean_stale(self.out)
        tag = f"@{socket.gethostname()}@{tag}" if tag else ""
        self.staging = self.out.parent / (f".{self.out.name}.{os.getpid()}.partial{tag}"
                                          f"{self.out.suffix if self.video else ''}")
        self._video = None
        self.count = 0
        self.codec: str | None = None  # the video's codec once its first frame is written: h264, mp4v or MJPG
        self.notes: list[str] = []  # what a user should know of the video (frames.video_out), after the first frame
        if not self.video:
            self.staging.mkdir()

    def write(self, name: str, image: np.ndarray) -> None:
        """One frame, uint8 RGB [H, W, 3]: under `name` in a folder, or the next frame of the video."""
        if self.video:
            if self._video is None:
                self._video = open_video(self.staging, self.out.suffix, self.fps, image.shape[:2], self.audio_from,
                                         self.metadata, self.what)
                self.codec = self._video.codec
                self.notes.extend(self._video.notes)
            self._video.write(image)
        else:
            Image.fromarray(image).save(self.staging / name)
        self.count += 1

    def commit(self) -> None:
        """Move everything written into place."""
        if self.video:
            if self._video is not None:
                self._video.close()
                self._video = None
            os.replace(self.staging, self.out)
            return
        self.out.mkdir(exist_ok=True)
        for path in sorted(self.staging.iterdir()):
            os.replace(path, self.out / path.name)
        self.staging.rmdir()

    def abort(self) -> None:
        """Remove everything written; the output stays as it was."""
        if self._video is not None:
            self._video.abort()
            self._video = None
        if self.staging.is_dir():
            shutil.rmtree(self.staging, ignore_errors=True)
        else:
            self.staging.unlink(missing_ok=True)


IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def check_image_path(path: str | os.PathLike, overwrite: bool = False, what: str = "--out") -> Path:
    """`path` if save_image may write there (an image suffix; not an existing file unless `overwrite`), else raises
    PatchToonError / OutputExistsError naming `what`."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_FORMATS:
        raise PatchToonError(f"{what}: expected an image file name ending in {', '.join(IMAGE_FORMATS)}, received "
                             f"{path.name!r}.")
    if path.exists() and (path.is_dir() or not overwrite):
        raise OutputExistsError(f"{what}: {path} already exists; it is never replaced silently. Choose another "
                                f"name, or add --overwrite to replace it.")
    return path


def save_image(path: str | os.PathLike, image: np.ndarray, overwrite: bool = False, what: str = "--out") -> Path:
    """One uint8 RGB image [H, W, 3] to `path` (PNG, JPEG or WEBP by its suffix), written beside it under a hidden
    name and moved into place: never half-written. Raises OutputExistsError when `path` exists and not
    `overwrite`, PatchToonError on another suffix."""
    path = check_image_path(path, overwrite, what)
    kind = IMAGE_FORMATS[path.suffix.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.{os.getpid()}.partial"
    try:
        Image.fromarray(image).save(staging, kind, **({"quality": 95} if kind != "PNG" else {}))
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path
