"""The keyframes a live session trains on: the edits waiting to be taken (from a watched folder or a panel, any
thread) and the set as last taken (each keyframe's image, the name it came as and a hash of it)."""
from __future__ import annotations

import hashlib
import threading
from typing import Callable

import torch

from ..errors import PatchToonError
from ..frames.sources import to_uint8
from ..keyframes import make_keyframes

# Edits taken less than this many seconds (of the session's clock) after the previous ones count with them as one
# change: an editor or a script saving every keyframe one file after the other, a watcher finding them at two looks.
BURST_SECONDS = 5.0
# A keyframe saved over is still "kept" (a repaint: the training continues warm) while under this share of its pixels
# changed by more than CHANGED_BY (0..1, any channel) since the burst began; past it, it is another style.
REPAINT_SHARE, CHANGED_BY = 0.5, 0.1


class LiveKeyframes:
    """styles: frame -> stylized keyframe [H, W, 3] float 0..1 at the frames' size; hashes: frame -> (name,
    sha256) as last read; published: name -> sha256, replaced whole at each change (read by any thread)."""

    def __init__(self, frames: torch.Tensor):
        self.frames = frames
        self.styles: dict[int, torch.Tensor] = {}
        self.hashes: dict[int, tuple[str, str]] = {}
        self.published: dict[str, str] = {}
        self._pending: list[tuple] = []  # (kind, frame, image, label, sha256 of the file or None)
        self._lock = threading.Lock()    # held only to add to or take _pending
        self._burst: tuple[float, dict] | None = None  # (time of the last change, styles before its burst began)

    def queue_set(self, index: int, image: torch.Tensor, label: str, sha256: str | None = None) -> None:
        """`image` ([H, W, 3] float 0..1) becomes the keyframe at frame `index` when the edits are next taken."""
        with self._lock:
            self._pending.append(("set", index, image, label, sha256))

    def queue_remove(self, index: int, label: str) -> None:
        with self._lock:
            self._pending.append(("remove", index, None, label, None))

    def take(self, say: Callable[[str], None], now: float = 0.0) -> tuple[list[str], list[int]]:
        """Apply the waiting edits: (what changed, one line each; the frames whose keyframe is kept: unchanged
        or repainted (REPAINT_SHARE) since before these edits, or before the burst they continue, BURST_SECONDS).
        A keyframe that fails make_keyframes' checks is told through `say` and not taken (its previous version
        stays). now: the session clock's time."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:  # every training step asks: nothing copied then
            return [], []
        before = dict(self.styles)
        if self._burst is not None and now - self._burst[0] < BURST_SECONDS:
            before = self._burst[1]
        self._burst = (now, before) if before else None  # the first keyframes start no burst
        changed = []
        for kind, index, image, label, sha in pending:
            if kind == "remove":
                if self.styles.pop(index, None) is not None:
                    self.hashes.pop(index, None)
                    changed.append(f"removed {label}")
                continue
            try:
                (styled,), notes = checked_keyframe(index, image, self.frames)
            except PatchToonError as exc:
                kept = " The previous version stays in use." if index in self.styles else ""
                say(f"{label}: not taken: {exc}{kept}")
                continue
            for note in notes:
                say(f"{label}: {note}")
            verb = "saved over" if index in self.styles else "added"
            self.styles[index] = styled
            self.hashes[index] = (label, sha or _sha256(styled))
            changed.append(f"{verb} {label} (sha256 {self.hashes[index][1][:12]})")
        self.published = {self.hashes[t][0]: self.hashes[t][1] for t in sorted(self.styles)}
        return changed, [t for t, image in self.styles.items() if t in before and _repainted(before[t], image)]


def _repainted(old: torch.Tensor, new: torch.Tensor) -> bool:
    """`new` is `old` or `old` painted over in places (under REPAINT_SHARE of its pixels changed)."""
    if old is new:
        return True
    return ((new - old).abs().amax(dim=-1) > CHANGED_BY).float().mean().item() < REPAINT_SHARE


def checked_keyframe(index: int, image: torch.Tensor, frames: torch.Tensor):
    """([H, W, 3] at the frames' size), notes: make_keyframes' checks and resizing for one keyframe."""
    keys, notes = make_keyframes([index], image[None], frames=frames)
    return keys.images, notes


def _sha256(image: torch.Tensor) -> str:
    return hashlib.sha256(to_uint8(image[None]).tobytes()).hexdigest()
