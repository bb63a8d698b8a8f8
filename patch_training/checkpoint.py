"""The checkpoint format: one .safetensors file, generator weights plus JSON metadata. Never pickle.

Metadata keys (all strings): format = "patch_training", format_version, library_version, generator (the
architecture config as JSON), guides (the guide specification as JSON, {} = RGB only), summary (training
summary as JSON: steps, seconds, losses, keyframe indices, frame size, seed, ...).

Tensors: the generator's state dict, plus (format 2) any guide data under the prefix `guide.`: `guide.masks`,
uint8 [K, h, w], the keyframes' masks that placed the Gaussian guide (guide_set.encode_guide_masks), present
only for a model trained with masks and the gauss guide. Format 1 files (no guide tensors) still load.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file, safe_open

from . import __version__
from .config import GeneratorConfig
from .errors import CheckpointError, ConfigError, OutputExistsError
from .models import StyleModel, build_generator

FORMAT = "patch_training"
FORMAT_VERSION = 2
GUIDE_PREFIX = "guide."  # tensors that are not generator weights


def checkpoint_metadata(model: StyleModel) -> dict[str, str]:
    """The string metadata stored with the weights (also what ComfyUI's Save node writes)."""
    return {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "library_version": __version__,
        "generator": json.dumps(model.config.to_dict()),
        "guides": json.dumps(model.guides),
        "summary": json.dumps(model.summary),
    }


def save_model(model: StyleModel, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `model` to `path` (.safetensors). Refuses to replace an existing file unless `overwrite`.

    The file is written to a temporary name beside it and renamed, so an interrupted save leaves no partial file.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ConfigError(f"out: expected a file name ending in .safetensors, received {path.name!r}.")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"out: {path} already exists; patch-toon never replaces a saved model. Choose "
                                f"another name, or pass --overwrite to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.generator.state_dict().items()}
    if model.guide_masks is not None:
        state[f"{GUIDE_PREFIX}masks"] = model.guide_masks.detach().cpu().to(torch.uint8).contiguous()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        save_file(state, tmp, metadata=checkpoint_metadata(model))
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if a file appeared meanwhile: never clobber
            os.unlink(tmp)
    except FileExistsError:
        os.unlink(tmp)
        raise OutputExistsError(f"out: {path} appeared while saving; it was left untouched.") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The checkpoint's metadata, JSON fields decoded. Raises CheckpointError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model: expected a patch_training .safetensors file, {path} does not exist.")
    try:
        with safe_open(str(path), "pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"model: {path} is not a safetensors file ({exc}). Expected a checkpoint saved by "
                              f"patch-toon (Save Patch Model or `python -m patch_training train`).") from None
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"model: {path} is a safetensors file but not a patch_training checkpoint (its "
                              f"metadata 'format' is {raw.get('format')!r}, expected {FORMAT!r}). It may be a "
                              f"diffusion or other model: load it with the node made for it.")
    try:
        version = int(raw.get("format_version", ""))
    except ValueError:
        raise CheckpointError(f"model: {path} has an unreadable format_version "
                              f"{raw.get('format_version')!r}.") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"model: {path} has checkpoint format version {version}, this patch-toon "
                              f"({__version__}) reads up to version {FORMAT_VERSION}. Update patch-toon.")
    try:
        return {"format_version": version, "library_version": raw.get("library_version", "?"),
                "generator": json.loads(raw["generator"]), "guides": json.loads(raw.get("guides", "{}")),
                "summary": json.loads(raw.get("summary", "{}"))}
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"model: {path} has damaged metadata ({exc}).") from None


def load_model(path: str | os.PathLike) -> StyleModel:
    """Load a checkpoint written by save_model (or ComfyUI's Save Patch Model). Validates shapes."""
    meta = read_metadata(path)
    try:
        config = GeneratorConfig.from_dict(meta["generator"])
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"model: {path} describes an architecture this version cannot build: {exc}") from None
    with torch.random.fork_rng(devices=[]):
        generator = build_generator(config)
    state = load_file(str(path))
    guide_masks = _guide_masks(path, state.pop(f"{GUIDE_PREFIX}masks", None), meta)
    expected = generator.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: expected {list(expected[k].shape)}, file has {list(state[k].shape)}"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(filter(None, [f"missing {missing[:5]}" if missing else "",
                                          f"unexpected {unexpected[:5]}" if unexpected else "",
                                          "; ".join(wrong[:5])]))
        raise CheckpointError(f"model: {path} does not match its own architecture metadata ({detail}). "
                              f"The file is damaged or was edited.")
    generator.load_state_dict(state)
    return StyleModel(generator, config, meta["guides"], meta["summary"], guide_masks=guide_masks)


def _guide_masks(path: Path, masks: torch.Tensor | None, meta: dict) -> torch.Tensor | None:
    """`guide.masks` checked against the metadata: uint8 [K, h, w], one per keyframe."""
    if masks is None:
        return None
    keys = meta["summary"].get("keyframe_indices", [])
    if masks.dtype != torch.uint8 or masks.ndim != 3 or masks.shape[0] != len(keys) or min(masks.shape) < 1:
        raise CheckpointError(f"model: {path} has a tensor {GUIDE_PREFIX}masks of {masks.dtype} "
                              f"{list(masks.shape)}, expected uint8 [{len(keys)}, h, w] (one mask per keyframe "
                              f"{keys}). The file is damaged or was edited.")
    return masks
