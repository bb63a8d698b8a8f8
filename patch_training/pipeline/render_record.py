"""The render record: what each stylized frame of an output folder was made from, so that a later run re-renders
only the frames whose output can change (`stylize --update OUT`, Stylize Video File's update_from).

A frame's output is a function of the model (its weights and architecture), the stylize settings (batch, tile,
device, precision, threads, torch's version) and the network's input for that frame: the frame itself and its
guide row. The guide row already carries everything else that feeds the frame ('warp' and 'page' are made from the
painted keyframes, 'gauss' from which frames are keyframes), so a frame's digest is a hash of exactly its network
input. The keyframes' own hashes are kept only to say which keyframe changed.

The record is `.patch-toon-render.json` in the output folder, written atomically after the frames; a file of that
name that is not a record of ours is never replaced.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..config import BATCH_PIXELS, StylizeOptions
from ..errors import PatchToonError
from ..keyframes import Keyframes
from ..model.networks import StyleModel
from ..runtime import default_threads, resolve_device, resolve_precision
from ..train.warm_start import weights_sha256

RECORD_NAME = ".patch-toon-render.json"
RECORD_KIND = "patch-toon render record"
RECORD_FORMAT = 1


class RecordError(PatchToonError):
    """A render record is missing, damaged or of another format."""


def input_digest(frame: np.ndarray, guide: np.ndarray | None) -> str:
    """sha256 of one frame's network input: the frame [H, W, 3] and its guide row [H, W, G] (or None)."""
    digest = hashlib.sha256()
    for part in (frame, guide):
        if part is None:
            digest.update(b"none;")
            continue
        part = np.ascontiguousarray(part)
        digest.update(f"{part.dtype}:{list(part.shape)};".encode())
        digest.update(part.tobytes())
    return digest.hexdigest()


def model_digest(model: StyleModel) -> str:
    """sha256 of the model's weights and of the architecture and guide layout they are read with."""
    meta = json.dumps({"config": dataclasses.asdict(model.config), "guides": model.guides}, sort_keys=True,
                      default=str)
    return hashlib.sha256(f"{weights_sha256(model)};{meta}".encode()).hexdigest()


def render_settings(options: StylizeOptions, size: tuple[int, int]) -> dict:
    """The settings a frame's output depends on, resolved on this machine ('auto' becomes what it chose)."""
    device = resolve_device(options.device)
    h, w = size
    return {"batch": max(1, min(options.batch_size, BATCH_PIXELS // max(h * w, 1))), "tile": options.tile,
            "device": str(device), "precision": str(resolve_precision(options.precision, device, training=False)),
            "threads": (options.threads or default_threads()) if device.type == "cpu" else 0,
            "size": [h, w], "torch": torch.__version__, "patch_toon": __version__}


def keyframe_digests(keyframes: Keyframes | None) -> dict[str, str]:
    """{frame index: sha256 of the stylized keyframe (and its mask)} ({} without keyframes)."""
    if keyframes is None:
        return {}
    out = {}
    for k, index in enumerate(keyframes.indices):
        mask = None if keyframes.masks is None else keyframes.masks[k].numpy()
        out[str(int(index))] = input_digest(keyframes.images[k].numpy(), mask)
    return out


@dataclasses.dataclass
class RenderRecord:
    """What an output folder's frames were rendered from. frames: {file name: input_digest}, in clip order."""

    model: str
    settings: dict
    keyframes: dict[str, str]
    frames: dict[str, str]

    def to_json(self) -> str:
        return json.dumps({"kind": RECORD_KIND, "format": RECORD_FORMAT, **dataclasses.asdict(self)}, indent=1)


def record_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / RECORD_NAME


def read_record(folder: str | os.PathLike, what: str = "--update") -> RenderRecord:
    """The render record of an output folder. Raises RecordError (naming `what`) when it is missing or damaged."""
    path = record_path(folder)
    fix = ("Render it afresh (a new output, or --overwrite on the command line); that run writes the record that "
           "the next update uses.")
    if not Path(folder).is_dir():
        raise RecordError(f"{what}: expected a folder of stylized frames written by patch-toon, received {folder} "
                          f"(not a folder).")
    if not path.is_file():
        raise RecordError(f"{what}: {folder} has no render record ({RECORD_NAME}): it was not written by patch-toon "
                          f"stylize into a folder, or the record was removed, so there is no telling which frames "
                          f"are current. {fix}")
    try:
        data = json.loads(path.read_text())
        if data.get("kind") != RECORD_KIND:
            raise ValueError("not a render record")
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, this patch-toon reads {RECORD_FORMAT}")
        record = RenderRecord(str(data["model"]), dict(data["settings"]), dict(data["keyframes"]),
                              dict(data["frames"]))
        if not all(isinstance(v, str) for v in (*record.frames.values(), *record.keyframes.values())):
            raise ValueError("a digest is not a string")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RecordError(f"{what}: the render record {path} is damaged ({error}). {fix}") from None
    return record


def is_our_record(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("kind") == RECORD_KIND
    except (OSError, ValueError, AttributeError):
        return False


def write_record(folder: str | os.PathLike, record: RenderRecord) -> str | None:
    """Write the record into `folder` atomically; a file of that name that is not a record of ours is kept.

    Returns a note for the user when the record was not written, else None."""
    path = record_path(folder)
    if path.exists() and not is_our_record(path):
        return (f"the render record was not written: {path} exists and is not one (it is kept); without it this "
                f"output cannot be updated")
    # Staged beside the folder, named as a FrameWriter's staging place: a run killed here leaves nothing inside
    # the folder, and the next run on it removes the leftover (frames.writers.clean_stale).
    folder = Path(folder)
    staging = folder.parent / f".{folder.name}.{os.getpid()}.partial-record"
    try:
        staging.write_text(record.to_json())
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return None


def why_all(previous: RenderRecord, model: str, settings: dict, names: list[str]) -> str | None:
    """Why every frame must be rendered again (a new model, other settings, another clip), or None."""
    if previous.model != model:
        return "the model changed (new weights: retrained or another model), so every frame can change"
    if previous.settings != settings:
        changed = sorted(k for k in {*previous.settings, *settings} if previous.settings.get(k) != settings.get(k))
        return f"the stylize settings changed ({', '.join(changed)}), so every frame can change"
    if list(previous.frames) != names:
        return (f"the clip changed ({len(previous.frames)} frames before, {len(names)} now, or other names), so "
                f"every frame is rendered again")
    return None


def keyframe_changes(previous: RenderRecord, now: dict[str, str]) -> str:
    """'keyframe 40 changed', 'keyframes 10, 40 changed; keyframe 70 added', or '' when none did."""
    parts = []
    for label, found in (("changed", [k for k in now if k in previous.keyframes and previous.keyframes[k] != now[k]]),
                         ("added", [k for k in now if k not in previous.keyframes]),
                         ("removed", [k for k in previous.keyframes if k not in now])):
        if found:
            found = sorted(found, key=int)
            parts.append(f"keyframe{'s' if len(found) > 1 else ''} {', '.join(found)} {label}")
    return "; ".join(parts)
