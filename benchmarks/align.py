"""Keyframe registration (patch_training.frames.align), measured: keyframes moved as image-edit models move them,
trained with align auto, against the true keyframes and against training on them as given (align off).

On the restyled clip pairs of comfyui-workflow-templates-media-video (benchmarks/clips.py): the stylized side is
itself an edit model's output and is not exactly on its footage's grid (the Grok edit is ~2 % wider), so each
stylized frame is first registered to its frame (align_keyframe) and that is the ground truth here: the "true
aligned keyframes" and the truth every method is scored against. The keyframes (first, middle, last) are then
moved as edit models return them, and each arm trains the 'fast' preset (RGB only, one thread, a fixed step
count) and stylizes the clip; SSIM and PSNR over the frames that are not keyframes. "exact undo" brings the
moved keyframes back with the edit's true map (what the resampling alone does, with a perfect registration).

Also the cost of align_keyframe per keyframe at 1080p (process CPU time and wall time, one thread).

    python -m benchmarks.align            # quick: one clip, 150 steps, under ~4 min on 2 busy cores
    python -m benchmarks.align --full     # both clips, 600 steps, one more edit
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime, timezone

import cv2
import numpy as np
import torch

from benchmarks.common import RESULTS, cpu_name, load_clip, train_and_stylize
from patch_training import TrainConfig, make_keyframes, psnr, ssim
from patch_training.frames.align import align_keyframe, make_aligned_keyframes


def content_map(size, dx=0.0, dy=0.0, zoom_x=1.0, zoom_y=1.0) -> np.ndarray:
    """3x3 map frame px -> keyframe px of an edit that moved the content by (dx, dy) and zoomed it per axis about
    the centre (zoom > 1: the keyframe shows a magnified part of its frame, as a crop resized back)."""
    h, w = size
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    linear = np.diag([zoom_x, zoom_y])
    return np.vstack([np.hstack([linear, (c + [dx, dy] - linear @ c)[:, None]]), [0, 0, 1]])


def edited(image: torch.Tensor, frame_to_key: np.ndarray) -> torch.Tensor:
    """`image` [H, W, 3] as the edit returns it (content outside the frame made up by reflection)."""
    h, w = image.shape[:2]
    inverse = np.linalg.inv(frame_to_key)[:2].astype(np.float32)
    return torch.from_numpy(cv2.warpAffine(image.numpy(), inverse, (w, h), flags=cv2.INTER_LINEAR |
                                           cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT))


def edits(size, full: bool) -> dict[str, np.ndarray]:
    h, w = size
    found = {
        "Qwen-like: 8 px shift, 3 % zoom": content_map(size, 8, -5, 1.03, 1.03),
        "Kontext-like: centre crop 88 % x 80 %, resized back": content_map(size, 0, 0, 1 / 0.88, 1 / 0.80),
        "FLUX.2-like: 15 % shift": content_map(size, 0.15 * w, 0.04 * h, 1.02, 1.02),
    }
    if full:
        found["stretch 6 % and 1.5 deg"] = content_map(size, 3, 2, 1.06, 1.0) @ rotation(size, 1.5)
    return found


def undone(moved: torch.Tensor, frame_to_key: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Keyframes [K, H, W, 3] brought back with the edit's true map, and where that map covers the frame."""
    k, h, w = moved.shape[:3]
    back = [cv2.warpAffine(image.numpy(), frame_to_key[:2].astype(np.float32), (w, h), flags=cv2.INTER_LINEAR |
                           cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE) for image in moved]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    mx = frame_to_key[0, 0] * xs + frame_to_key[0, 1] * ys + frame_to_key[0, 2]
    my = frame_to_key[1, 0] * xs + frame_to_key[1, 1] * ys + frame_to_key[1, 2]
    covered = ((mx >= -0.5) & (mx <= w - 0.5) & (my >= -0.5) & (my <= h - 0.5)).astype(np.float32)
    return torch.from_numpy(np.stack(back)), torch.from_numpy(covered)[None].expand(k, -1, -1).contiguous()


def rotation(size, degrees: float) -> np.ndarray:
    h, w = size
    return np.vstack([cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0), [0, 0, 1]])


def straightened(frames: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """The stylized clip registered frame by frame to its footage (a frame that cannot be registered kept)."""
    out = truth.clone()
    for t in range(len(frames)):
        try:
            out[t] = align_keyframe(frames[t], truth[t]).image
        except ValueError:
            pass
    return out


def score(result: torch.Tensor, truth: torch.Tensor, keys) -> dict:
    rest = [t for t in range(len(truth)) if t not in keys]
    return {"ssim": round(ssim(result[rest], truth[rest]), 4), "psnr": round(psnr(result[rest], truth[rest]), 2)}


def run_clip(name: str, steps: int, full: bool) -> list[dict]:
    frames, raw, keys = load_clip(name)
    truth = straightened(frames, raw)
    config = TrainConfig(preset="fast", steps=steps, seconds=0, seed=0, threads=1)
    rows = []

    def arm(label, edit, keyframes, notes=()):
        start = time.perf_counter()
        result = train_and_stylize(frames, keyframes, config).result
        row = {"clip": name, "edit": edit, "arm": label, **score(result, truth, keys),
               "seconds": round(time.perf_counter() - start, 1), "notes": list(notes)}
        print(json.dumps(row), flush=True)
        rows.append(row)

    true_keys, _ = make_keyframes(keys, truth[keys], frames=frames)
    arm("true keyframes", "none", true_keys)
    for n, (edit, matrix) in enumerate(edits(frames.shape[1:3], full).items()):
        moved = torch.stack([edited(truth[k], matrix) for k in keys])
        off, _ = make_keyframes(keys, moved, frames=frames)
        arm("align off", edit, off)
        if full or n == 0:  # the edit undone with its true map: what interpolation alone costs (or gives)
            back, coverage = undone(moved, matrix)
            exact, _ = make_keyframes(keys, back, frames=frames, coverage=coverage)
            arm("exact undo", edit, exact)
        start = time.process_time()
        auto, notes = make_aligned_keyframes(keys, moved, None, frames, "auto")
        align_s = (time.process_time() - start) / len(keys)
        arm("align auto", edit, auto, notes + [f"align: {align_s:.2f} s CPU per keyframe"])
    return rows


def cost_1080p(repeats: int = 3) -> dict:
    """align_keyframe on the sample's frame 14 and keyframe resized to 1920x1080, after a Qwen-like edit."""
    frames, truth, keys = load_clip("sample")
    up = lambda x: torch.from_numpy(cv2.resize(x.numpy(), (1920, 1080), interpolation=cv2.INTER_CUBIC).clip(0, 1))  # noqa: E731
    frame, key = up(frames[14]), up(truth[14])
    moved = edited(key, content_map((1080, 1920), 16, -10, 1.03, 1.03))
    cpu, wall = [], []
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        report = align_keyframe(frame, moved).report
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return {"cpu_s": round(statistics.median(cpu), 2), "wall_s": round(statistics.median(wall), 2),
            "report": report.describe("1080p keyframe")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="both clips, 600 steps, one more edit")
    parser.add_argument("--steps", type=int, default=0, help="training steps per arm (default 150, --full 600)")
    parser.add_argument("--clips", default="", help="comma-separated clips of benchmarks/clips.py (default: "
                        "api_grok_video_edit; --full: both usable pairs)")
    args = parser.parse_args()
    steps = args.steps or (600 if args.full else 150)
    clips = (args.clips.split(",") if args.clips else
             ["api_grok_video_edit", "api_google_gemini_omni_flash_video_edit"] if args.full else ["api_grok_video_edit"])
    started = datetime.now(timezone.utc)
    rows = [row for name in clips for row in run_clip(name, steps, args.full)]
    cost = cost_1080p()
    print(json.dumps(cost))
    command = " ".join(["python -m benchmarks.align", *(["--full"] if args.full else []),
                        *([f"--clips {args.clips}"] if args.clips else []), *([f"--steps {args.steps}"] if args.steps else [])])
    lines = [f"{started:%Y-%m-%d} on {cpu_name()}, `{command}` "
             f"({steps} steps per arm, fast preset, RGB only, 1 thread):", "",
             "| clip | edit | true keyframes | align off | exact undo | align auto | auto - true |",
             "|---|---|---|---|---|---|---|"]
    for name in clips:
        mine = [r for r in rows if r["clip"] == name]
        true = next(r for r in mine if r["arm"] == "true keyframes")
        for edit in dict.fromkeys(r["edit"] for r in mine if r["edit"] != "none"):
            off = next(r for r in mine if r["edit"] == edit and r["arm"] == "align off")
            auto = next(r for r in mine if r["edit"] == edit and r["arm"] == "align auto")
            exact = next((r for r in mine if r["edit"] == edit and r["arm"] == "exact undo"), None)
            cell = lambda r: "-" if r is None else f"{r['ssim']:.3f} ({r['psnr']:.1f} dB)"  # noqa: E731
            lines.append(f"| {name} | {edit} | {cell(true)} | {cell(off)} | {cell(exact)} | {cell(auto)} | "
                         f"{auto['ssim'] - true['ssim']:+.3f} |")
    lines += ["", f"align_keyframe at 1920x1080: {cost['cpu_s']} s CPU, {cost['wall_s']} s wall per keyframe "
                  f"(median of 3, 1 thread)."]
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"align_{'_'.join(clips)}_{steps}.json").write_text(json.dumps({"rows": rows, "cost": cost,
                                                                                   "table": lines}, indent=1))


if __name__ == "__main__":
    main()
