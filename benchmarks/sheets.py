"""Keyframe sheet benchmark: the resolution a keyframe keeps on a sheet, and what the round trip costs.

    .venv/bin/python -m benchmarks.sheets              # layouts, round trips on real stylized frames (~1 minute)
    .venv/bin/python -m benchmarks.sheets --train 400  # also: training on round-tripped keyframes (~4 minutes)

1. Resolution per keyframe at max_side 1024, for 1-12 keyframes of four frame shapes: the frame's pixels kept on
   sheet_layout's tile (the grid chosen to keep the most per keyframe), against a square grid of ceil(sqrt(K))
   cells a side (the contact-sheet layout of TemporalKit-style tools), each frame fitted at its aspect: (a) under
   the same rules (cells in multiples of 64 px, 32 px gutters, within max_side), which measures the choice of
   grid; (b) a 1024x1024 sheet cut into equal cells with no gutter and no 64 px steps, which measures what the
   rules cost.
2. The round trip with no model: real stylized frames (the ground truth of the bundled sample and of the
   media package's restyled pairs, K evenly spaced) through make_sheet and split_sheet, scored against
   themselves (PSNR, SSIM): the detail a sheet costs before any model touches it. Also with the sheet resized
   by 0.9 in between (a model returning another size) and stretched to 1024x1024 (a model snapping to its size).
3. With --train STEPS: a `fast` model (default guides) trained for STEPS steps on the sample's three painted
   keyframes as they are, and on the same keyframes after a sheet round trip; non-key frames scored against the
   truth. The difference is what the sheet's lower resolution costs in the result.
Prints Markdown tables; one torch thread.
"""
from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F

from benchmarks.common import load_clip
from patch_training import GuideSpec, TrainConfig, make_keyframes, make_sheet, sheet_layout, split_sheet
from patch_training.frames.sheets import GUTTER, MAX_STRETCH, TILE_STEP
from patch_training.metrics import psnr, ssim

SHAPES = {"16:9 (1920x1080)": (1080, 1920), "4:3 (640x480)": (480, 640), "1:1 (350x350)": (350, 350),
          "9:16 (1080x1920)": (1920, 1080)}
COUNTS = (1, 2, 3, 4, 5, 6, 8, 9, 12)
MAX_SIDE = 1024
CLIPS = ("sample", "api_grok_video_edit", "api_google_gemini_omni_flash_video_edit")


def kept(size: tuple[int, int], cell_h: float, cell_w: float) -> float:
    """Pixels of a frame of `size` fitted at its aspect into a cell."""
    scale = min(cell_h / size[0], cell_w / size[1])
    return size[0] * size[1] * scale * scale


def square_grid(count: int, size: tuple[int, int], rules: bool) -> float:
    """Pixels per keyframe on a ceil(sqrt(count))-square grid: with sheet_layout's rules (64 px steps, gutters,
    the frames' aspect within 10 %: the best such cell), or equal cells of a MAX_SIDE square without them."""
    n = math.ceil(math.sqrt(count))
    if not rules:
        return kept(size, MAX_SIDE / n, MAX_SIDE / n)
    best = 0.0
    room = (MAX_SIDE - (n - 1) * GUTTER) // n // TILE_STEP * TILE_STEP
    for h in range(TILE_STEP, room + 1, TILE_STEP):
        for w in range(TILE_STEP, room + 1, TILE_STEP):
            if abs(math.log(w / h / (size[1] / size[0]))) <= math.log1p(MAX_STRETCH):
                best = max(best, kept(size, h, w))
    return best


def layouts() -> list[str]:
    lines = ["| frames | " + " | ".join(f"K={k}" for k in COUNTS) + " |", "|---|" + "---|" * len(COUNTS)]
    for label, size in SHAPES.items():
        cells = []
        for k in COUNTS:
            layout = sheet_layout(k, size, MAX_SIDE)
            ours = size[0] * size[1] * min(layout.tile_width / size[1], layout.tile_height / size[0]) ** 2
            same, free = square_grid(k, size, True), square_grid(k, size, False)
            cells.append(f"{layout.tile_width}x{layout.tile_height}: {ours / same:.2f}x / {ours / free:.2f}x"
                         if same else f"{layout.tile_width}x{layout.tile_height}: - / {ours / free:.2f}x")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def resized(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    x = F.interpolate(images.permute(0, 3, 1, 2), size=(height, width), mode="bicubic", align_corners=False,
                      antialias=True)
    return x.permute(0, 2, 3, 1).clamp(0, 1)


def round_trips() -> list[str]:
    lines = ["| clip | K | tile | as made: PSNR / SSIM | resized 0.9 | stretched to 1024x1024 |", "|---|---|---|---|---|---|"]
    for name in CLIPS:
        _, truth, _ = load_clip(name)
        t, h, w = truth.shape[:3]
        for k in (2, 3, 4, 6):
            picks = [round((i + 0.5) * t / k - 0.5) for i in range(k)]
            keys = truth[picks]
            sheet = make_sheet(keys, MAX_SIDE)
            layout = sheet_layout(k, (h, w), MAX_SIDE)
            cells = []
            for edited in (sheet, resized(sheet, round(sheet.shape[1] * 0.9), round(sheet.shape[2] * 0.9)),
                           resized(sheet, MAX_SIDE, MAX_SIDE)):
                try:
                    back, _ = split_sheet(edited, (h, w), k, MAX_SIDE)
                except ValueError:
                    cells.append("refused (aspect)")
                    continue
                cells.append(f"{psnr(back, keys):.2f} / {ssim(back, keys):.3f}")
            lines.append(f"| {name} ({w}x{h}) | {k} | {layout.tile_width}x{layout.tile_height} | " +
                         " | ".join(cells) + " |")
    return lines


def training(steps: int) -> list[str]:
    from benchmarks.common import train_and_stylize

    frames, truth, keys = load_clip("sample")
    others = [i for i in range(len(frames)) if i not in keys]
    sheet = make_sheet(truth[keys], MAX_SIDE)
    tripped, _ = split_sheet(sheet, frames.shape[1:3], len(keys), MAX_SIDE)
    lines = ["| keyframes | non-key frames: PSNR / SSIM |", "|---|---|"]
    for label, images in (("as painted", truth[keys]), ("after a sheet round trip", tripped)):
        keyframes, _ = make_keyframes(keys, images, frames=frames)
        config = TrainConfig(preset="fast", steps=steps, seconds=0.0, seed=0, threads=1)
        run = train_and_stylize(frames, keyframes, config, GuideSpec(), threads=1)
        lines.append(f"| {label} | {psnr(run.result[others], truth[others]):.2f} / "
                     f"{ssim(run.result[others], truth[others]):.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=0, metavar="STEPS", help="also train on round-tripped keyframes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"Tile per keyframe at max_side {MAX_SIDE}: pixels kept vs a square grid (a) under the same rules, (b) "
          f"without gutters or 64 px steps\n")
    print("\n".join(layouts()))
    print("\nRound trip on real stylized frames (no model), scored against themselves\n")
    print("\n".join(round_trips()))
    if args.train:
        print(f"\nTraining on the sample's keyframes, {args.train} steps (fast, default guides, seed 0)\n")
        print("\n".join(training(args.train)))


if __name__ == "__main__":
    main()
