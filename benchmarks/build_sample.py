"""Rebuild the bundled sample clip (example_workflows/assets/sample) from the template wheel.

    python benchmarks/build_sample.py                      # what is committed
    python benchmarks/build_sample.py --pair api_google_gemini_omni_flash_video_edit \\
        --step 1 --count 45 --keyframes 0 22 44 --out output/other_sample

Writes, with the frame number in the sampled sequence as the stem:
    frames/00000.jpg ...    the footage (JPEG quality 90)
    keyframes/00000.png ... the stylized version of the chosen frames (lossless)
    truth/00000.jpg ...     the stylized version of every frame (JPEG quality 90)
Old .jpg/.png files in those three folders are removed first; nothing else is touched.
The wheel comes from benchmarks/clips.py (downloaded into .cache/wheels when absent).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

try:  # run as a script (benchmarks/ on sys.path) or as part of a package
    from clips import USABLE, load_pair
except ImportError:
    from .clips import USABLE, load_pair

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "example_workflows" / "assets" / "sample"
JPEG_QUALITY = 90  # with 4:2:0 chroma: keeps the 32-frame sample under 4 MB


def _save(image: np.ndarray, path: Path) -> None:
    if path.suffix == ".jpg":
        Image.fromarray(image).save(path, quality=JPEG_QUALITY, optimize=True)
    else:
        Image.fromarray(image).save(path, optimize=True)


def build(out: Path, pair: str, step: int, count: int, keyframes: list[int]) -> None:
    frames, truth = load_pair(pair, max_frames=count, step=step)
    n = frames.shape[0]
    bad = [k for k in keyframes if not 0 <= k < n]
    if bad:
        raise SystemExit(f"--keyframes: expected frame numbers from 0 to {n - 1}, received {bad}.")
    frames, truth = (np.round(t.numpy() * 255.0).astype(np.uint8) for t in (frames, truth))
    for sub in ("frames", "keyframes", "truth"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for old in [*(out / sub).glob("*.jpg"), *(out / sub).glob("*.png")]:
            old.unlink()
    for i in range(n):
        _save(frames[i], out / "frames" / f"{i:05d}.jpg")
        _save(truth[i], out / "truth" / f"{i:05d}.jpg")
    for k in keyframes:
        _save(truth[k], out / "keyframes" / f"{k:05d}.png")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {n} frames {frames.shape[2]}x{frames.shape[1]}, keyframes {keyframes}, "
          f"{size / 1e6:.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="api_grok_video_edit", choices=USABLE,
                        help="template pair to take the clip from")
    parser.add_argument("--step", type=int, default=1, help="keep every step-th frame")
    parser.add_argument("--count", type=int, default=32, help="number of frames to keep")
    parser.add_argument("--keyframes", type=int, nargs="+", default=[0, 14, 31],
                        help="frame numbers (in the sampled sequence) to write as keyframes")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args()
    build(args.out, args.pair, args.step, args.count, args.keyframes)


if __name__ == "__main__":
    main()
