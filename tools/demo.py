"""`make demo`: learn the bundled sample's style from its keyframes, stylize the clip, write the results.

Writes output/demo/: frames/ (stylized PNGs), stylized.mp4, side_by_side.mp4, contact_sheet.png,
input_keyframe_result.gif, model.safetensors.
An earlier output/demo is kept, renamed with its time stamp: nothing is overwritten.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from repo import REPO  # first: the repository root on sys.path

from benchmarks.common import SAMPLE, train_and_stylize
from patch_training import (ColorLUT, FrameSource, GuideSpec, TrainConfig, make_keyframes, psnr, save_model, ssim,
                            to_tensor, to_uint8)
from patch_training.frames.sources import images_by_stem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=180.0, help="training budget (default 180)")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--out", type=Path, default=REPO / "output" / "demo")
    args = parser.parse_args()

    source = FrameSource(SAMPLE / "frames")
    frames = source.read_all()
    styled = images_by_stem(SAMPLE / "keyframes", source.stems, source.size, "keyframes")
    indices = [source.stems.index(s) for s in styled]
    keyframes, _ = make_keyframes(indices, to_tensor(list(styled.values())), frames=frames)
    print(f"patch-toon: an artist painted {len(keyframes)} frames ({', '.join(map(str, keyframes.indices))}) of a "
          f"{len(frames)}-frame clip; patch-toon learns that style and paints all {len(frames)} frames, the ink and "
          f"shading moving with the bike.\n"
          f"The bundled sample: {source.size[1]}x{source.size[0]} frames in {SAMPLE.relative_to(REPO)}/. Training "
          f"the '{args.preset}' network with guides {GuideSpec().describe()} for {args.seconds:.0f} s:", flush=True)

    last = [0.0]

    def report(p):
        if p.done or time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            print(f"  step {p.step:5d}  {p.elapsed_s:6.1f} s  loss {p.losses.get('total', float('nan')):.4f}  "
                  f"{p.steps_per_s:.1f} steps/s", flush=True)

    spec = GuideSpec()  # the default guides (README, Benchmarks)
    run = train_and_stylize(frames, keyframes, TrainConfig(preset=args.preset, seconds=args.seconds), spec,
                            clock=time.monotonic, on_progress=report)
    model, result = run.model, run.result
    per_frame = (run.guides_s + run.stylize_s) / len(frames)

    out = args.out
    if out.exists():
        out.rename(out.with_name(f"{out.name}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(out.stat().st_mtime))}"))
    (out / "frames").mkdir(parents=True)
    images = to_uint8(result)
    for name, image in zip(source.names, images):
        Image.fromarray(image).save(out / "frames" / f"{Path(name).stem}.png")
    save_model(model, out / "model.safetensors")
    truth_dir = SAMPLE / "truth"
    truth = FrameSource(truth_dir).read_all() if truth_dir.is_dir() else None
    inputs = to_uint8(frames)
    write_mp4(out / "stylized.mp4", images)
    write_mp4(out / "side_by_side.mp4", np.concatenate([inputs, images], axis=2))
    contact_sheet(out / "contact_sheet.png", inputs, images, None if truth is None else to_uint8(truth),
                  keyframes.indices)
    write_animation(out / "input_keyframe_result.gif", inputs, to_uint8(keyframes.images), keyframes.indices, images,
              side=240, labels=("the clip", f"{len(keyframes)} frames painted", f"patch-toon: all {len(frames)}"))

    print(f"trained {model.summary.steps} steps in {model.summary.seconds:.0f} s; "
          f"stylized {len(frames)} frames at {per_frame:.3f} s/frame")
    if truth is not None:
        others = [i for i in range(len(frames)) if i not in keyframes.indices]
        lut = ColorLUT(frames[list(keyframes.indices)], keyframes.images)(frames[others])
        print(f"on the {len(others)} frames nobody painted, closeness to the artist's version of them "
              f"(PSNR dB / SSIM, higher is closer):")
        for label, pred in (("the clip unchanged", frames[others]), ("colour lookup table", lut),
                            ("patch-toon", result[others])):
            print(f"  {label:20s} {psnr(pred, truth[others]):6.2f} / {ssim(pred, truth[others]):.3f}")
        print("  (the artist also redrew the background's buildings: a patch network restyles what is in the "
              "frame, it does not invent new content, so there it paints a blur)")
    print(f"look: {out / 'side_by_side.mp4'} (left the clip, right patch-toon), "
          f"{out / 'input_keyframe_result.gif'}, {out / 'contact_sheet.png'}\n"
          f"also wrote: frames/ (every stylized frame), stylized.mp4, model.safetensors (`patch-toon stylize "
          f"--model {out / 'model.safetensors'} ...`, or Load Patch Model in ComfyUI)")
    return 0


def write_mp4(path: Path, images: np.ndarray, fps: float = 15.0) -> None:
    h, w = images.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for image in images:
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()


def write_animation(path: Path, inputs, keys, key_indices, results, side: int = 160, fps: float = 10.0,
                    labels: tuple[str, str, str] | None = None) -> None:
    """A looping GIF or WEBP (by the suffix) of three panels: the input, the nearest keyframe (the style given),
    the result; each panel's label, if given, in a band above it."""
    frames = []
    width = round(side * inputs.shape[2] / inputs.shape[1])
    band = 0 if labels is None else max(16, side // 12)
    font = ImageFont.load_default(size=band - 4) if band else None
    for t in range(len(inputs)):
        k = min(range(len(key_indices)), key=lambda i: abs(key_indices[i] - t))
        panels = [Image.fromarray(a).resize((width, side), Image.LANCZOS) for a in (inputs[t], keys[k], results[t])]
        frame = Image.new("RGB", (3 * width + 8, side + band), "white")
        draw = ImageDraw.Draw(frame)
        for i, panel in enumerate(panels):
            frame.paste(panel, (i * (width + 4), band))
            if labels is not None:
                draw.text((i * (width + 4) + 4, 1), labels[i], fill="black", font=font)
        frames.append(frame)
    # Lossy WEBP: a fifth of the GIF's size for textured footage (its 256 colours need heavy dithering).
    codec = {"quality": 80, "method": 6} if path.suffix == ".webp" else {"optimize": True}
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0, **codec)


def contact_sheet(path: Path, inputs, results, truth, key_indices, columns: int = 6) -> None:
    """Rows: input, result, ground truth; columns: frames spread over the clip (keyframes marked K)."""
    picks = np.linspace(0, len(inputs) - 1, columns).round().astype(int)
    rows = [inputs, results] + ([truth] if truth is not None else [])
    labels = ["input", "patch-toon", "ground truth"]
    h, w = inputs.shape[1:3]
    scale = 200 / max(h, w)
    th, tw = int(h * scale), int(w * scale)
    sheet = Image.new("RGB", (90 + columns * (tw + 4), len(rows) * (th + 4) + 20), "white")
    draw = ImageDraw.Draw(sheet)
    for c, i in enumerate(picks):
        draw.text((90 + c * (tw + 4), 4), f"frame {i}" + (" (K)" if i in key_indices else ""), fill="black")
    for r, row in enumerate(rows):
        draw.text((4, 20 + r * (th + 4) + th // 2), labels[r], fill="black")
        for c, i in enumerate(picks):
            sheet.paste(Image.fromarray(row[i]).resize((tw, th), Image.LANCZOS), (90 + c * (tw + 4), 20 + r * (th + 4)))
    sheet.save(path)


if __name__ == "__main__":
    sys.exit(main())
