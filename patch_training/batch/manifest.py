"""A batch job's manifest: the shots of a project, their inputs, outputs and training options (README: Batch jobs).

{"defaults": {...}, "shots": [{"name", "frames", "keyframes", "out", ...}, ...]}: a shot's options are `train`'s
(same names, same defaults) plus masks, model (a trained model instead of training), batch and tile
(`stylize`'s); defaults apply to every shot; relative paths are read from the manifest's folder.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, PatchToonError
from ..config import DEFAULT_TILE
from ..pipeline.train_files import TrainOptions
from ..frames.writers import VIDEO_CODECS

TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(TrainOptions))  # `train`'s options, same names
SHOT_KEYS = ("name", "frames", "keyframes", "out", "masks", "model", "batch", "tile") + TRAIN_KEYS
PATH_KEYS = ("frames", "keyframes", "out", "masks", "model")


@dataclass(frozen=True)
class Shot:
    """One shot of a batch job: its inputs, where it goes, and its training options."""

    name: str
    frames: str
    out: str
    keyframes: str | None = None
    masks: str | None = None
    model: str | None = None      # a trained model to use: no training
    train: TrainOptions = TrainOptions()
    batch: int = 4
    tile: int = DEFAULT_TILE

    @property
    def model_path(self) -> Path:
        return Path(self.model) if self.model else Path(self.out + ".safetensors")

    @property
    def work(self) -> Path:
        out = Path(self.out)
        return out.parent / f".{out.name}.batch"


def read_manifest(path: str | os.PathLike) -> list[Shot]:
    """The shots of a manifest file. Raises ConfigError naming the file, the shot and the key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"manifest: cannot read {path} ({exc.strerror}). Give the path of a manifest file.") from None
    except ValueError as exc:
        raise ConfigError(f"manifest: {path} is not valid JSON ({exc}). See README, 'Batch jobs'.") from None
    if not isinstance(data, dict) or not isinstance(data.get("shots"), list) or not data["shots"]:
        raise ConfigError(f"manifest: expected {{\"defaults\": {{...}}, \"shots\": [{{...}}, ...]}} with at least one "
                          f"shot in {path}, received {type(data).__name__} with keys "
                          f"{sorted(data)[:8] if isinstance(data, dict) else []}.")
    unknown = sorted(set(data) - {"defaults", "shots"})
    defaults = data.get("defaults", {})
    if unknown or not isinstance(defaults, dict):
        raise ConfigError(f"manifest: {path}: expected the keys 'defaults' (an object) and 'shots', received "
                          f"{unknown or 'defaults of type ' + type(defaults).__name__}.")
    shots, seen = [], {}
    for n, entry in enumerate(data["shots"]):
        if not isinstance(entry, dict):
            raise ConfigError(f"manifest: shot #{n + 1} must be an object, received {type(entry).__name__}.")
        shot = _shot({**defaults, **entry}, path.resolve().parent, f"shot #{n + 1}" if "name" not in entry else
                     f"shot {entry['name']!r}")
        for key in ("name", "out"):
            value = getattr(shot, key) if key == "name" else str(Path(shot.out).resolve())
            if (key, value) in seen:
                raise ConfigError(f"manifest: shots {seen[(key, value)]!r} and {shot.name!r} have the same {key} "
                                  f"{value!r}; each shot needs its own.")
            seen[(key, value)] = shot.name
        shots.append(shot)
    return shots


def _shot(entry: dict, base: Path, label: str) -> Shot:
    unknown = sorted(set(entry) - set(SHOT_KEYS))
    if unknown:
        raise ConfigError(f"manifest: {label}: unknown keys {unknown}; a shot takes {list(SHOT_KEYS)}.")
    missing = [k for k in ("name", "frames", "out") if not entry.get(k)]
    if not entry.get("model") and not entry.get("keyframes"):
        missing.append("keyframes (or model)")
    if missing:
        raise ConfigError(f"manifest: {label}: missing {missing}. Each shot needs a name, its frames, its "
                          f"stylized keyframes (or a trained model) and an out folder.")
    for key in PATH_KEYS:
        if entry.get(key) is not None:
            entry[key] = os.path.normpath(base / Path(entry[key]).expanduser())
    if isinstance(entry.get("prior"), str) and entry["prior"] not in ("auto", "none"):  # a model file
        entry["prior"] = os.path.normpath(base / Path(entry["prior"]).expanduser())
    if isinstance(entry.get("vgg"), str) and entry["vgg"]:  # a weights file
        entry["vgg"] = os.path.normpath(base / Path(entry["vgg"]).expanduser())
    if Path(entry["out"]).suffix.lower() in VIDEO_CODECS:
        raise ConfigError(f"manifest: {label}: out must be a folder of frames (segments are written by several "
                          f"workers), received the video name {entry['out']!r}. Give a folder; make a video from "
                          f"it afterwards.")
    try:
        train = TrainOptions(**{k: entry[k] for k in TRAIN_KEYS if k in entry})
        train.config()
        train.spec()
        shot = Shot(name=str(entry["name"]), frames=entry["frames"], out=entry["out"],
                    keyframes=entry.get("keyframes"), masks=entry.get("masks"), model=entry.get("model"),
                    train=train, batch=int(entry.get("batch", 4)), tile=int(entry.get("tile", DEFAULT_TILE)))
    except PatchToonError as exc:
        raise ConfigError(f"manifest: {label}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"manifest: {label}: {exc}. See README, 'Batch jobs', for the keys and their types."
                          ) from None
    return shot
