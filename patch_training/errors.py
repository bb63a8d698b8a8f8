"""Typed errors a user can act on: each names the input, what was expected, what was received."""
from __future__ import annotations


class PatchToonError(ValueError):
    """Base of every error patch_training raises on bad input. The message is for the user."""


class FramesError(PatchToonError):
    """Frames (or their folder / video file) are missing, unreadable or inconsistent."""


class KeyframeError(PatchToonError):
    """Keyframes do not match the frames (names, indices, sizes, counts)."""


class MaskError(PatchToonError):
    """Masks do not match the keyframes."""


class GuideError(PatchToonError):
    """Guides cannot be computed or do not match what the model was trained with."""


class CheckpointError(PatchToonError):
    """A model file is not a patch_training checkpoint, is corrupt, or is too new."""


class OutputExistsError(PatchToonError):
    """Writing would overwrite something the user did not ask to replace."""


class MemoryLimitError(PatchToonError):
    """The work would need more memory than the machine has available: refused before it starts."""


class WarmStartError(PatchToonError):
    """A model to continue training from (--init, init_model) does not fit the training asked for."""


class ConfigError(PatchToonError):
    """A setting (preset, steps, seconds, tile size, ...) is out of range or unknown."""


def shown(value, limit: int = 80) -> str:
    """A received value for a message: repr() (str() of an exception), cut to `limit` characters, since a
    damaged file or a hostile request may hold megabytes."""
    text = str(value) if isinstance(value, BaseException) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def check_image_batch(name: str, tensor, channels: int | None = 3) -> None:
    """Raise FramesError unless `tensor` is a [T, H, W, C] float tensor with T >= 1.

    name: the user's word for the input ("frames", "keyframes", ...), used in the message.
    """
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise FramesError(f"{name}: expected an image batch (a torch tensor [T, H, W, {channels or 'C'}]), "
                          f"received {type(tensor).__name__}.")
    want = f"[T, H, W, {channels if channels is not None else 'C'}]"
    if tensor.ndim != 4 or (channels is not None and tensor.shape[-1] != channels) or tensor.shape[0] < 1:
        raise FramesError(f"{name}: expected an image batch of shape {want} with T >= 1, "
                          f"received shape {list(tensor.shape)}.")
    if not tensor.is_floating_point():
        raise FramesError(f"{name}: expected float values in 0..1, received dtype {tensor.dtype}.")
