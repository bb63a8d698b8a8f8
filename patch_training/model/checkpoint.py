"""The checkpoint format: one .safetensors file, generator weights plus JSON metadata. Never pickle.

Metadata keys (all strings): format = "patch_training", format_version, library_version, generator (the
architecture config as JSON), guides (the guide specification as JSON, {} = RGB only), summary (training
summary as JSON: steps, seconds, losses, keyframe indices, frame size, seed, ...).

Reading trusts nothing in the file: the file and header sizes are bounded before safetensors parses them, the
metadata's size and JSON nesting are bounded before it is decoded, the architecture is checked against bounds
and then against the stored tensors' names, dtypes and shapes (on torch's "meta" device: no memory) before
any weight is read, and weights must be finite. Every failure is a CheckpointError naming the file.

Tensors: the generator's state dict, plus (format 2) guide data under the prefix `guide.`: `guide.masks`,
uint8 [K, h, w] (longer side at most 128), the keyframes' masks that placed the Gaussian guide
(guide_set.encode_guide_masks), present only for a model trained with masks and the gauss guide. Format 1
files (no guide tensors) still load.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file, safe_open

from .. import __version__
from ..config import GeneratorConfig
from ..errors import CheckpointError, ConfigError, OutputExistsError, PatchToonError, shown
from ..guides import GuideSpec
from .networks import StyleModel, build_generator

FORMAT = "patch_training"
FORMAT_VERSION = 2
# Tensors named with this prefix are not generator weights but data stored beside them (e.g. keyframe masks):
# the loader checks their dtype and rank and leaves them to the code that reads them. Any other tensor that
# the architecture does not name is refused.
RESERVED_PREFIX = GUIDE_PREFIX = "guide."
GUIDE_MASKS = f"{GUIDE_PREFIX}masks"
MAX_GUIDE_MASK_SIDE = 128  # guide_set.encode_guide_masks stores masks at most this size

# Bounds checked before the bytes they describe are read (the largest preset, 'reference', is a 13 MB file
# with a 10 KB header).
MAX_FILE_BYTES = 1 << 30        # 1 GiB
MAX_HEADER_BYTES = 1 << 20      # safetensors' JSON header: the tensor table and the metadata
MAX_METADATA_BYTES = 256 << 10  # all metadata keys and values together
MAX_JSON_DEPTH = 8              # nesting of one metadata JSON value (patch-toon writes 3 at most)
_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "U64": 8, "U32": 4, "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1}
_RESERVED_DTYPES = {"F32", "F16", "BF16", "U8", "BOOL"}
# A float32 weight may be stored in half precision (the shipped priors are: half the size); it is read as float32.
_HALF = (torch.float16, torch.bfloat16)
_SAVED_BY = "Expected a checkpoint saved by patch-toon (Save Patch Model or `python -m patch_training train`)."
_DAMAGED = "The file is damaged or was edited: copy it again, or save the model again with patch-toon."


def checkpoint_metadata(model: StyleModel) -> dict[str, str]:
    """The string metadata stored with the weights (also what ComfyUI's Save node writes)."""
    return {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "library_version": __version__,
        "generator": json.dumps(model.config.to_dict()),
        "guides": json.dumps(model.guides),
        "summary": json.dumps(model.summary.to_dict()),
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
    state = {k: v.detach().cpu().contiguous() for k, v in model.generator.state_dict().items()}
    bad = next((k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise CheckpointError(f"model: weight {bad!r} holds NaN or infinite values: training diverged, nothing was "
                              f"saved. Train again with a lower learning_rate or another seed.")
    if model.guide_masks is not None:
        state[GUIDE_MASKS] = model.guide_masks.detach().cpu().to(torch.uint8).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
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


@dataclass(frozen=True)
class _Inspected:
    """A checkpoint's header, validated: decoded metadata, the architecture, the generator's tensors."""

    metadata: dict
    config: GeneratorConfig
    expected: dict[str, tuple[torch.dtype, tuple[int, ...]]]  # generator tensor name -> (dtype, shape)


def read_metadata(path: str | os.PathLike) -> dict:
    """The checkpoint's metadata, JSON fields decoded, after checking the whole header (sizes, architecture,
    tensor table) without reading any weight. Raises CheckpointError naming the file and the problem."""
    return _inspect(Path(path)).metadata


def load_model(path: str | os.PathLike) -> StyleModel:
    """Load a checkpoint written by save_model (or ComfyUI's Save Patch Model).

    Checks everything read_metadata checks, then that every weight has the dtype and shape its architecture
    needs and holds finite values. Raises CheckpointError naming the file, the problem and what to do.
    """
    path = Path(path)
    found = _inspect(path)
    state = {}
    try:
        with safe_open(str(path), "pt") as f:
            for name, (dtype, shape) in found.expected.items():
                tensor = f.get_tensor(name)
                if not _stored_fits((tensor.dtype, tuple(tensor.shape)), (dtype, shape)):  # changed since _inspect
                    raise CheckpointError(f"model: {path} changed while it was being read. Load it again.")
                tensor = tensor.to(dtype)
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                    raise CheckpointError(f"model: {path}: weight {name!r} holds NaN or infinite values, so every "
                                          f"frame would come out wrong. Training diverged or the file is damaged: "
                                          f"train again (a lower learning_rate) or copy the file again.")
                state[name] = tensor
            guide_masks = _guide_masks(path, f, found.metadata)
    except PatchToonError:
        raise
    except Exception as exc:  # safetensors' own errors; the header was valid a moment ago
        raise CheckpointError(f"model: {path} could not be read ({shown(exc)}). {_DAMAGED}") from None
    with torch.device("meta"):  # no memory, no initialisation: the weights come from the file
        generator = build_generator(found.config)
    generator.load_state_dict(state, assign=True)
    meta = found.metadata
    model = StyleModel(generator, found.config, meta["guides"], meta["summary"], guide_masks=guide_masks)
    model.source = path.name
    return model


def _guide_masks(path: Path, f, meta: dict) -> torch.Tensor | None:
    """`guide.masks` (format 2), checked against the metadata before it is read: uint8 [K, h, w], one per keyframe."""
    if GUIDE_MASKS not in f.keys():
        return None
    keys = meta["summary"].get("keyframe_indices", [])
    info = f.get_slice(GUIDE_MASKS)
    dtype, shape = info.get_dtype(), list(info.get_shape())
    if (dtype != "U8" or len(shape) != 3 or shape[0] != len(keys) or min(shape) < 1
            or max(shape[1:]) > MAX_GUIDE_MASK_SIDE):
        raise CheckpointError(f"model: {path} has a tensor {GUIDE_MASKS} of {dtype} {shown(shape)}, expected U8 "
                              f"[{len(keys)}, h, w] with sides of at most {MAX_GUIDE_MASK_SIDE} (one mask per "
                              f"keyframe {shown(keys)}). {_DAMAGED}")
    return f.get_tensor(GUIDE_MASKS)


def _inspect(path: Path) -> _Inspected:
    header = _read_header(path)
    raw = header.pop("__metadata__", None) or {}
    if raw.get("format") != FORMAT:
        raise CheckpointError(f"model: {path} is a safetensors file but not a patch_training checkpoint (its "
                              f"metadata 'format' is {shown(raw.get('format'))}, expected {FORMAT!r}). It may be "
                              f"a diffusion or other model: load it with the node made for it.")
    if sum(len(k) + len(v) for k, v in raw.items()) > MAX_METADATA_BYTES:
        raise CheckpointError(f"model: {path} holds more metadata than patch-toon writes (over "
                              f"{MAX_METADATA_BYTES // 1024} KB). {_DAMAGED}")
    version_text = raw.get("format_version", "")
    if not re.fullmatch(r"[0-9]{1,6}", version_text) or int(version_text) < 1:
        raise CheckpointError(f"model: {path} has an unreadable format_version {shown(version_text)}, expected "
                              f"a whole number from 1. {_DAMAGED}")
    version = int(version_text)
    if version > FORMAT_VERSION:
        raise CheckpointError(f"model: {path} has checkpoint format version {version}, this patch-toon "
                              f"({__version__}) reads up to version {FORMAT_VERSION}. Update patch-toon.")
    meta = {"format_version": version, "library_version": raw.get("library_version", "?"),
            "generator": _json_object(path, raw, "generator", None), "guides": _json_object(path, raw, "guides", "{}"),
            "summary": _json_object(path, raw, "summary", "{}")}
    try:
        config = GeneratorConfig.from_dict(meta["generator"])
    except ConfigError as exc:
        raise CheckpointError(f"model: {path} describes an architecture this version cannot build: {exc} "
                              f"{_DAMAGED}") from None
    _check_guides(path, meta["guides"], config)
    _check_summary(path, meta["summary"])
    return _Inspected(meta, config, _check_tensors(path, header, config))


def _read_header(path: Path) -> dict:
    """The safetensors header (tensor table and __metadata__), parsed by safetensors once its size is bounded."""
    if not path.is_file():
        raise CheckpointError(f"model: expected a patch_training .safetensors file, {path} does not exist.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CheckpointError(f"model: {path} is {size / 2**20:.0f} MB, larger than any patch-toon checkpoint "
                              f"(at most {MAX_FILE_BYTES >> 20} MB). {_SAVED_BY}")
    with open(path, "rb") as f:
        prefix = f.read(8)
        declared = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 2 <= declared <= min(MAX_HEADER_BYTES, size - 8):
            what = (f"it is {size} bytes, shorter than a safetensors header" if declared < 0 else
                    f"its first 8 bytes declare a header of {declared} bytes; the file has {size - 8} after them, "
                    f"a patch-toon header has at most {MAX_HEADER_BYTES}")
            raise CheckpointError(f"model: {path} is not a safetensors file or is truncated ({what}). "
                                  f"{_SAVED_BY}")
        text = f.read(declared)
    try:
        with safe_open(str(path), "pt") as f:  # safetensors' own parser: offsets, dtypes, buffer size
            f.metadata()
    except Exception as exc:  # SafetensorError, or anything its parser raises on a damaged file
        stored = _tensor_bytes(text)
        if stored is not None and stored != size - 8 - declared:
            raise _size_error(path, stored, size - 8 - declared) from None
        raise CheckpointError(f"model: {path} is not a safetensors file or is damaged ({shown(exc)}). "
                              f"{_SAVED_BY}") from None
    stored = _tensor_bytes(text)
    if stored is not None and stored != size - 8 - declared:
        raise _size_error(path, stored, size - 8 - declared)
    return json.loads(text)  # valid: safetensors parsed it, and at most MAX_HEADER_BYTES


def _size_error(path: Path, stored: int, available: int) -> CheckpointError:
    return CheckpointError(f"model: {path} is {'truncated' if stored > available else 'followed by extra bytes'}: "
                           f"its tensors take {stored} bytes, the file holds {available} after its header. "
                           f"{_DAMAGED}")


def _tensor_bytes(text: bytes) -> int | None:
    """Bytes of all tensors a header lists; None when it cannot tell (not JSON, an unknown dtype, ...)."""
    try:
        header = json.loads(text)
        total = 0
        for name, info in header.items():
            if name != "__metadata__":
                count = _DTYPE_BYTES[info["dtype"]]
                for n in info["shape"]:
                    count *= int(n)
                total += count
        return total
    except Exception:  # a damaged header: the caller reports safetensors' own reason
        return None




def _json_object(path: Path, raw: dict, key: str, default: str | None) -> dict:
    """Metadata value `key` decoded as a JSON object, its nesting bounded before json.loads sees it."""
    text = raw.get(key, default)
    if text is None:
        raise CheckpointError(f"model: {path} has no '{key}' metadata, which every patch-toon checkpoint has. "
                              f"{_DAMAGED}")
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise CheckpointError(f"model: {path}: metadata '{key}' is nested {depth} levels deep, patch-toon writes "
                              f"at most {MAX_JSON_DEPTH}. {_DAMAGED}")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"model: {path}: metadata '{key}' is not valid JSON ({shown(exc)}). "
                              f"{_DAMAGED}") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"model: {path}: metadata '{key}' should be a JSON object, it is "
                              f"{type(value).__name__} {shown(value)}. {_DAMAGED}")
    return value


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _json_depth(text: str) -> int:
    """How deep brackets nest in JSON `text` (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _check_guides(path: Path, guides: dict, config: GeneratorConfig) -> None:
    """A guide spec (when the model has one) must be valid and give the generator its number of inputs."""
    if not guides.get("guides"):
        return
    try:
        spec = GuideSpec.from_dict(guides)
    except PatchToonError as exc:
        raise CheckpointError(f"model: {path}: metadata 'guides' is not a guide specification this version "
                              f"reads: {exc}") from None
    if 3 + spec.channels != config.in_channels:
        raise CheckpointError(f"model: {path}: its guides {list(spec.guides)} give {3 + spec.channels} input "
                              f"channels with RGB, its generator takes {config.in_channels}. {_DAMAGED}")


# Summary fields the library reads back (stylization rebuilds guides from them), with their checks.
_SUMMARY_FIELDS = {
    "keyframe_indices": ("a list of frame numbers", lambda v: isinstance(v, list) and 0 < len(v) <= 100_000
                         and all(_is_int(i) and 0 <= i < 10**8 for i in v)),
    "frame_size": ("[height, width] in pixels", lambda v: isinstance(v, list) and len(v) == 2
                   and all(_is_int(i) and 1 <= i <= 1 << 17 for i in v)),
    "masks": ("true or false", lambda v: isinstance(v, bool)),
    "alignment": ("a list of objects, one per keyframe (frames.align's reports)",  # read by align_of at stylization
                  lambda v: isinstance(v, list) and len(v) <= 100_000 and all(isinstance(r, dict) for r in v)),
    "steps": ("a step count", lambda v: _is_int(v) and v >= 0),
    "warm_start": ("an object with whole step counts steps_before and steps_total",  # read by a later warm start
                   lambda v: isinstance(v, dict) and all(_is_int(v.get(k)) and v[k] >= 0
                                                         for k in ("steps_before", "steps_total"))),
}


def _check_summary(path: Path, summary: dict) -> None:
    for key, (expected, ok) in _SUMMARY_FIELDS.items():
        if key in summary and not ok(summary[key]):
            raise CheckpointError(f"model: {path}: summary '{key}' should be {expected}, it is "
                                  f"{shown(summary[key])}. {_DAMAGED}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _stored_fits(stored: tuple, expected: tuple) -> bool:
    """A stored (dtype, shape) is what the architecture's (dtype, shape) needs, or its float32 stored as half."""
    return stored == expected or (stored[1] == expected[1] and expected[0] == torch.float32 and stored[0] in _HALF)


def _check_tensors(path: Path, header: dict, config: GeneratorConfig) -> dict:
    """The stored tensors against the architecture's (names, dtypes, shapes), before any weight is read."""
    with torch.device("meta"):  # shapes and dtypes only: nothing allocated, nothing initialised
        expected = {k: (v.dtype, tuple(v.shape)) for k, v in build_generator(config).state_dict().items()}
    stored = {name: (_DTYPES.get(info["dtype"]), tuple(info["shape"])) for name, info in header.items()}
    reserved = {name for name in stored if name.startswith(RESERVED_PREFIX) and name not in expected}
    problems = [f"missing {sorted(set(expected) - set(stored))[:5]}" if set(expected) - set(stored) else "",
                f"unexpected {shown(sorted(set(stored) - set(expected) - reserved)[:5])}"
                if set(stored) - set(expected) - reserved else ""]
    problems += [f"{name}: expected {list(shape)} {_NAMES[dtype]}, file has {shown(list(stored[name][1]))} "
                 f"{header[name]['dtype']}"
                 for name, (dtype, shape) in expected.items() if name in stored
                 and not _stored_fits(stored[name], (dtype, shape))]
    problems += [f"{name}: {header[name]['dtype']} of rank {len(stored[name][1])} (data beside the weights must be "
                 f"one of {sorted(_RESERVED_DTYPES)}, rank 4 at most)" for name in sorted(reserved)
                 if header[name]["dtype"] not in _RESERVED_DTYPES or len(stored[name][1]) > 4]
    problems = [p for p in problems if p]
    if problems:
        raise CheckpointError(f"model: {path} does not match its own architecture metadata "
                              f"({'; '.join(problems[:5])}). {_DAMAGED}")
    return expected
