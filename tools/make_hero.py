"""Writes README's first picture, docs/hero.webp: a clip, three painted frames, and patch-toon's every frame.

The clip is the "paper craft" pair of the MIT-licensed `comfyui-workflow-templates-media-video` package (an
astronaut riding a horse through space, and the same 45 frames redone as layered paper): frames 0, 22 and 44
of the paper version are the keyframes; patch-toon learns them and stylizes all 45 input frames. The paper
texture and the colours stay on the horse, the suit and the planet as they move, which is what the method is
for. Downloads the package (about 105 MB, once, into .cache/wheels) like the benchmarks.

    .venv/bin/python tools/make_hero.py [--steps 3000] [--out docs/hero.webp]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repo import REPO  # first: the repository root on sys.path

from benchmarks.clips import load_pair
from benchmarks.common import train_and_stylize
from demo import write_animation  # (tools/ is this script's folder)
from patch_training import GuideSpec, TrainConfig, make_keyframes, psnr, ssim, to_uint8

CLIP, KEYS = "api_google_gemini_omni_flash_video_edit", (0, 22, 44)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "hero.webp")
    args = parser.parse_args()
    frames, truth = load_pair(CLIP)
    keyframes, _ = make_keyframes(KEYS, truth[list(KEYS)], frames=frames)
    run = train_and_stylize(frames, keyframes, TrainConfig(preset="fast", steps=args.steps, seconds=0, threads=1),
                            GuideSpec())
    model, result = run.model, run.result
    others = [i for i in range(len(frames)) if i not in KEYS]
    print(f"trained {model.summary.steps} steps in {model.summary.seconds:.0f} s; on the other "
          f"{len(others)} frames vs the paper version: {psnr(result[others], truth[others]):.2f} dB, SSIM "
          f"{ssim(result[others], truth[others]):.3f}")
    write_animation(args.out, to_uint8(frames), to_uint8(keyframes.images), KEYS, to_uint8(result), side=240,
              labels=("the clip", f"{len(KEYS)} frames painted", f"patch-toon: all {len(frames)}"))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
