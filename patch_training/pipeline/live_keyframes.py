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

    def queue_set(self, index: int, image: torch.Tensor, label: str, sha256: str | None = None) -> None:
        """`image` ([H, W, 3] float 0..1) becomes the keyframe at frame `index` when the edits are next taken."""
        with self._lock:
            self._pending.append(("set", index, image, label, sha256))

    def queue_remove(self, index: int, label: str) -> None:
        with self._lock:
            self._pending.append(("remove", index, None, label, None))

    def take(self, say: Callable[[str], None]) -> tuple[list[str], dict[int, tuple[str, str]]]:
        """Apply the waiting edits: (what changed, one line each; the hashes before). A keyframe that fails
        make_keyframes' checks is told through `say` and not taken (its previous version stays)."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:  # every training step asks: nothing copied then
            return [], {}
        before = dict(self.hashes)
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
        return changed, before


def checked_keyframe(index: int, image: torch.Tensor, frames: torch.Tensor):
    """([H, W, 3] at the frames' size), notes: make_keyframes' checks and resizing for one keyframe."""
    keys, notes = make_keyframes([index], image[None], frames=frames)
    return keys.images, notes


def _sha256(image: torch.Tensor) -> str:
    return hashlib.sha256(to_uint8(image[None]).tobytes()).hexdigest()
