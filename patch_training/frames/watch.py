"""Watching a folder of keyframes: which images were saved over, added or removed since the last look.

An image editor (Krita, Photoshop, GIMP) or a diffusion run often writes a file in place, in several writes; a
file read in between is half an image. A file is taken only when it is complete: its size and modification
time are the same at two looks in a row, it ends as its format ends (PNG: the IEND chunk; JPEG: the EOI
marker), and it decodes fully. Until then it is "waiting"; one that stays unreadable is reported once.
Polling only (os.scandir and stat): nothing to install, and it works on network folders too.
"""
from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .sources import IMAGE_SUFFIXES

# A file that is stable on disk but still does not decode after this long is reported (once) as unreadable.
UNREADABLE_AFTER_S = 2.0
_PNG_END = b"IEND\xaeB`\x82"


@dataclass(frozen=True)
class KeyframeFile:
    """An image taken from the folder: its frame stem, file name, the image (uint8 RGB [H, W, 3]) and the
    sha256 of the bytes it was decoded from."""

    stem: str
    name: str
    image: np.ndarray
    sha256: str


@dataclass
class FolderChanges:
    """What one look at the folder found: images new or saved over (by stem), stems whose file is gone, and
    lines to tell the user (files waiting to be complete, unreadable files, names that match no frame)."""

    changed: dict[str, KeyframeFile] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed)


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float          # when this (size, mtime) was first seen
    reported: bool = False  # "still unreadable" said for this version


class KeyframeFolderWatcher:
    """Looks at `folder` on each poll() and says which keyframes changed since the previous poll.

    stems: the clip's frame names without extension (a file must be named like one of them). The first poll
    reports every complete image as changed. A stem's file that is replaced by the same bytes (a touch, a save
    without edits) is not a change. clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, folder: str | Path, stems: list[str], clock=time.monotonic,
                 unreadable_after_s: float = UNREADABLE_AFTER_S):
        self.folder = Path(folder)
        self.stems = set(stems)
        self.clock = clock
        self.unreadable_after_s = unreadable_after_s
        self._seen: dict[str, _Seen] = {}         # file name -> last (size, mtime) observed
        self._taken: dict[str, tuple[str, int, int, str]] = {}  # stem -> (file name, size, mtime, sha256) taken
        self._warned: set[str] = set()

    @property
    def taken(self) -> dict[str, tuple[str, str]]:
        """stem -> (file name, sha256) of the version last taken."""
        return {stem: (name, sha) for stem, (name, _, _, sha) in self._taken.items()}

    @property
    def waiting(self) -> list[str]:
        """Image files seen whose current version is not taken yet (being written, or unreadable)."""
        taken = {(name, size, mtime) for name, size, mtime, _ in self._taken.values()}
        return sorted(name for name, s in self._seen.items() if (name, s.size, s.mtime_ns) not in taken
                      and Path(name).stem in self.stems)

    def poll(self) -> FolderChanges:
        changes = FolderChanges()
        now = self.clock()
        files = self._listing(changes)
        present = set()
        for stem, path in files.items():
            present.add(stem)
            st = path.stat()
            key = (st.st_size, st.st_mtime_ns)
            seen = self._seen.get(path.name)
            if seen is None or (seen.size, seen.mtime_ns) != key:
                self._seen[path.name] = _Seen(*key, since=now)
                continue  # first sight of this version: look again at the next poll
            taken = self._taken.get(stem)
            if taken is not None and taken[:3] == (path.name, *key):
                continue  # already taken as it is
            try:
                data = path.read_bytes()
                image = _decode(path, data)
            except (OSError, ValueError, SyntaxError) as exc:
                if not seen.reported and now - seen.since >= self.unreadable_after_s:
                    seen.reported = True
                    changes.notes.append(f"{path.name}: still unreadable {now - seen.since:.0f} s after its last "
                                         f"write ({_reason(exc)}); waiting for a complete save (the previous "
                                         f"version stays in use)")
                continue
            if len(data) != key[0]:
                continue  # written to while being read: the next poll sees its new size
            sha = hashlib.sha256(data).hexdigest()
            if taken is not None and taken[0] == path.name and taken[3] == sha:
                self._taken[stem] = (path.name, *key, sha)  # the same bytes saved again
                continue
            self._taken[stem] = (path.name, *key, sha)
            changes.changed[stem] = KeyframeFile(stem, path.name, image, sha)
        for stem in sorted(set(self._taken) - present):
            del self._taken[stem]
            changes.removed.append(stem)
        for name in list(self._seen):
            if not (self.folder / name).exists():
                del self._seen[name]
        return changes

    def _listing(self, changes: FolderChanges) -> dict[str, Path]:
        """The folder's image files by stem (hidden files and editors' temporary files skipped)."""
        by_stem: dict[str, list[Path]] = {}
        try:
            entries = list(self.folder.iterdir())
        except FileNotFoundError:
            self._say(changes, "missing", f"{self.folder}: the keyframe folder is gone; waiting for it to return")
            return {}
        for path in entries:
            if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            if path.stem not in self.stems:
                self._say(changes, path.name, f"{path.name}: matches no frame name (frames are named like "
                                              f"{min(self.stems)}); ignored")
                continue
            by_stem.setdefault(path.stem, []).append(path)
        out = {}
        for stem, paths in by_stem.items():
            if len(paths) > 1:
                paths.sort(key=lambda p: p.stat().st_mtime_ns)
                self._say(changes, "two:" + stem, f"{', '.join(p.name for p in paths)}: two images for frame "
                                                  f"{stem}; the newest, {paths[-1].name}, is used")
            out[stem] = paths[-1]
        return out

    def _say(self, changes: FolderChanges, key: str, line: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            changes.notes.append(line)


def _decode(path: Path, data: bytes) -> np.ndarray:
    """The whole image as uint8 RGB; raises ValueError when the file is not complete."""
    suffix = path.suffix.lower()
    if suffix == ".png" and not data.endswith(_PNG_END):
        raise ValueError("the PNG ends before its IEND chunk")
    if suffix in (".jpg", ".jpeg") and b"\xff\xd9" not in data[-64:]:
        raise ValueError("the JPEG ends before its end-of-image marker")
    with Image.open(io.BytesIO(data)) as im:
        im.load()  # decodes every byte: a truncated file raises OSError here
        return np.array(im.convert("RGB"))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else exc.__class__.__name__
