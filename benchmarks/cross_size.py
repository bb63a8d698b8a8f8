"""Does a model trained at one size stylize the same clip well at another size? (issue 10, item 4)

On the bundled sample (350x350, ground truth on every frame), an RGB-only model (the network alone: guides are
rebuilt per size and would only add their own scaling question) is trained for the same step count on the clip
at half size (175x175) and at full size; the non-key frames are scored at full size against the truth:
(a) trained small, stylized at full size; (b) trained small, stylized small, upscaled (bicubic); (c) trained and
stylized at full size.

    .venv/bin/python -m benchmarks.cross_size [--steps 1500]
"""
from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from benchmarks.common import SAMPLE, train_and_stylize
from patch_training import FrameSource, TrainConfig, make_keyframes, psnr, ssim
from patch_training.stylize import stylize

KEYS = [0, 14, 31]


def resize(x: torch.Tensor, side: int) -> torch.Tensor:
    return F.interpolate(x.permute(0, 3, 1, 2), size=(side, side), mode="bicubic", antialias=True,
                         align_corners=False).clamp(0, 1).permute(0, 2, 3, 1).contiguous()


def score(out: torch.Tensor, truth: torch.Tensor) -> dict:
    rest = [t for t in range(truth.shape[0]) if t not in KEYS]
    return {"psnr": round(psnr(out[rest], truth[rest]), 2), "ssim": round(ssim(out[rest], truth[rest]), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    frames = FrameSource(SAMPLE / "frames").read_all()
    truth = FrameSource(SAMPLE / "truth").read_all()
    styled = FrameSource(SAMPLE / "keyframes").read_all()
    config = TrainConfig(steps=args.steps, seconds=0, seed=0, threads=1)
    small = resize(frames, 175)
    keys_small, _ = make_keyframes(KEYS, resize(styled, 175), frames=small)
    keys_full, _ = make_keyframes(KEYS, styled, frames=frames)
    trained_small = train_and_stylize(small, keys_small, config)  # RGB models: no guides to rebuild
    trained_full = train_and_stylize(frames, keys_full, config)
    rows = {"trained 175, stylized 350": score(stylize(trained_small.model, frames), truth),
            "trained 175, stylized 175, upscaled": score(resize(trained_small.result, 350), truth),
            "trained 350, stylized 350": score(trained_full.result, truth),
            "input frames (reference)": score(frames, truth)}
    print(json.dumps({"steps": args.steps, **rows}, indent=1))


if __name__ == "__main__":
    main()
