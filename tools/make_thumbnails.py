"""Writes example_workflows/<name>.jpg, the thumbnail today's ComfyUI shows for each workflow in its Templates dialog.

Each picture shows what its workflow does, made from files the repository has: the bundled sample's frames,
its painted keyframes, and its frames stylized by the bundled sample model (computed here on the CPU in fp32,
a few seconds). 400x300 px, JPEG, under 60 KB each. Run it again after changing a workflow's purpose or the
sample:

    .venv/bin/python tools/make_thumbnails.py [--out example_workflows]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from patch_training import (FrameSource, load_model, make_sheet, model_guides, suggest_keyframes,  # noqa: E402
                            to_uint8)
from patch_training.stylize.tiled import stylize  # noqa: E402

SAMPLE = REPO / "example_workflows" / "assets" / "sample"
KEYS = (0, 14, 31)  # the sample's painted frames (assets/sample/keyframes)
SIZE = (400, 300)
BACKGROUND, INK, ACCENT, MUTED = (32, 32, 36), (236, 236, 236), (255, 184, 64), (150, 150, 160)
QUALITY = 85


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled font: the same pixels on every machine


class Card:
    """A 400x300 picture: pictures and labels placed by their top-left corner."""

    def __init__(self, title: str):
        self.image = Image.new("RGB", SIZE, BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.text((10, 7), title, 15, INK)

    def text(self, xy, text: str, size: int = 12, fill=MUTED, anchor: str = "la") -> None:
        self.draw.text(xy, text, fill=fill, font=font(size), anchor=anchor)

    def picture(self, array: np.ndarray, box: tuple[int, int, int, int], label: str = "",
                outline=None) -> None:
        """`array` ([H, W, 3] uint8) resized into box (x, y, width, height), its label centred below it."""
        x, y, w, h = box
        self.image.paste(Image.fromarray(array).resize((w, h), Image.LANCZOS), (x, y))
        if outline is not None:
            self.draw.rectangle((x - 2, y - 2, x + w + 1, y + h + 1), outline=outline, width=3)
        if label:
            self.text((x + w // 2, y + h + 4), label, 11, MUTED, "ma")

    def arrow(self, x: int, y: int, length: int = 14) -> None:
        self.draw.line((x, y, x + length, y), fill=ACCENT, width=2)
        self.draw.polygon(((x + length, y - 4), (x + length + 6, y), (x + length, y + 4)), fill=ACCENT)

    def save(self, path: Path) -> None:
        self.image.save(path, quality=QUALITY, optimize=True, progressive=False)


def row(card: Card, images, y: int, side: int, labels=(), gap: int = 6, outline_at=(), arrows: bool = False):
    """Pictures of `side` px in a row centred on the card."""
    step = side + gap + (22 if arrows else 0)
    x0 = (SIZE[0] - (len(images) * step - step + side)) // 2
    for i, image in enumerate(images):
        x = x0 + i * step
        card.picture(image, (x, y, side, side), labels[i] if i < len(labels) else "",
                     ACCENT if i in outline_at else None)
        if arrows and i + 1 < len(images):
            card.arrow(x + side + 4, y + side // 2)


def train_and_stylize_sample(frames, keys, result) -> Card:
    card = Card("Train on 3 painted frames, stylize the clip")
    row(card, [frames[20], keys[1], result[20]], 34, 104, ("frame 20", "painted frame 14", "result"), arrows=True)
    strip = [result[t] for t in np.linspace(0, len(result) - 1, 5).round().astype(int)]
    row(card, strip, 184, 70, gap=4)
    card.text((SIZE[0] // 2, 260), f"all {len(result)} frames, stylized (the training strip)", 11, MUTED, "ma")
    card.text((SIZE[0] // 2, 278), "about 75 s on a 2-core CPU", 11, MUTED, "ma")
    return card


def stylize_with_checkpoint(frames, result) -> Card:
    card = Card("Stylize a clip with a saved style model")
    row(card, [frames[8], result[8]], 40, 168, ("the clip", "the bundled sample style"), gap=12, arrows=True)
    card.text((SIZE[0] // 2, 240), "Load Patch Model  >  Stylize Frames  >  Save Animated WEBP", 11, INK, "ma")
    card.text((SIZE[0] // 2, 260), "runs as shipped on a fresh ComfyUI", 11, MUTED, "ma")
    return card


def stylize_video_file(frames, result) -> Card:
    card = Card("Stylize a video file, streamed frame by frame")
    picks = np.linspace(0, len(frames) - 1, 5).round().astype(int)
    row(card, [frames[t] for t in picks], 34, 70, gap=4)
    card.text((SIZE[0] // 2, 110), "video file in (any length)", 11, MUTED, "ma")
    card.draw.polygon(((194, 132), (206, 132), (200, 142)), fill=ACCENT)
    row(card, [result[t] for t in picks], 154, 70, gap=4)
    card.text((SIZE[0] // 2, 230), "MP4 and PNG frames out, never the whole clip in memory", 11, MUTED, "ma")
    return card


def suggest(frames, indices) -> Card:
    card = Card("Which frames to paint: Suggest Keyframes")
    side, gap, columns = 42, 5, 8
    x0 = (SIZE[0] - columns * (side + gap) + gap) // 2
    for t, frame in enumerate(frames):
        x, y = x0 + (t % columns) * (side + gap), 34 + (t // columns) * (side + gap)
        picked = t in indices
        card.picture(frame if picked else (frame * 0.45).astype(np.uint8), (x, y, side, side),
                     outline=ACCENT if picked else None)
    listed = ", ".join(str(i) for i in indices)
    card.text((SIZE[0] // 2, 232), f"frames {listed} of {len(frames)} suggested, saved for painting", 12, INK, "ma")
    card.text((SIZE[0] // 2, 252), "one per shot first, then where the clip changes most", 11, MUTED, "ma")
    return card


def diffusion_keyframes(frames) -> Card:
    card = Card("Keyframes from Stable Diffusion 1.5")
    row(card, [frames[k] for k in KEYS], 34, 96, [f"frame {k}" for k in KEYS], gap=10)
    card.draw.rounded_rectangle((40, 160, 360, 206), radius=8, outline=ACCENT, width=2)
    card.text((200, 168), "SD 1.5 img2img restyles these 3 frames", 12, INK, "ma")
    card.text((200, 186), "needs a checkpoint in models/checkpoints/", 11, MUTED, "ma")
    card.draw.polygon(((194, 214), (206, 214), (200, 224)), fill=ACCENT)
    card.text((200, 232), "Make Keyframes  >  Train  >  Stylize Frames", 12, INK, "ma")
    card.text((200, 252), "every frame of the clip in the keyframes' style", 11, MUTED, "ma")
    return card


def keyframe_sheet(model: str, frames, keys, result) -> Card:
    """The sheet of the three keyframes, and the same sheet painted (the sample's hand-painted keyframes stand in
    for the model's result), then the clip stylized."""
    card = Card(f"One keyframe sheet through {model}")
    sheets = [to_uint8(make_sheet(images[list(KEYS)] if len(images) > len(KEYS) else images))[0]
              for images in (frames, keys)]
    row(card, sheets, 34, 120, ("3 keyframes on one sheet", "stylized in one pass"), gap=16, arrows=True)
    card.text((SIZE[0] // 2, 190), "Split Keyframe Sheet  >  Make Keyframes  >  Train  >  Stylize", 11, INK, "ma")
    strip = [result[t] for t in np.linspace(0, len(result) - 1, 5).round().astype(int)]
    row(card, strip, 210, 56, gap=4)
    card.text((SIZE[0] // 2, 276), "keyframes that agree: no flicker where one hands over", 11, MUTED, "ma")
    return card


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "example_workflows")
    args = parser.parse_args()
    clip = FrameSource(SAMPLE / "frames").read_all()
    model = load_model(SAMPLE / "sample_style.safetensors")
    # fp32 on one CPU thread: the same pictures on any machine (bf16 autocast depends on the CPU).
    result = to_uint8(stylize(model, clip, model_guides(model, clip), device="cpu", precision="fp32", threads=1))
    keys_clip = FrameSource(SAMPLE / "keyframes").read_all()
    frames, keys = to_uint8(clip), to_uint8(keys_clip)
    suggested = suggest_keyframes(clip, 3).indices
    cards = {
        "train_and_stylize_sample": train_and_stylize_sample(frames, keys, result),
        "stylize_with_checkpoint": stylize_with_checkpoint(frames, result),
        "stylize_video_file": stylize_video_file(frames, result),
        "suggest_keyframes": suggest(frames, list(suggested)),
        "diffusion_keyframes": diffusion_keyframes(frames),
        "flux_kontext_keyframe_sheet": keyframe_sheet("Flux Kontext", clip, keys_clip, result),
        "qwen_image_edit_keyframe_sheet": keyframe_sheet("Qwen-Image-Edit", clip, keys_clip, result),
    }
    missing = sorted(p.stem for p in args.out.glob("*.json") if p.stem not in cards)
    if missing:
        print(f"no thumbnail design for {missing}: add one to {Path(__file__).name}", file=sys.stderr)
        return 1
    for name, card in cards.items():
        path = args.out / f"{name}.jpg"
        card.save(path)
        print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path} "
              f"({path.stat().st_size / 1000:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
