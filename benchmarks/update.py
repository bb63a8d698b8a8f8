"""`stylize --update` after one keyframe edit versus a full re-render, through the command line.

    taskset -c 0 .venv/bin/python -m benchmarks.update                 # the bundled sample, 32 frames (~4 min)
    taskset -c 0 .venv/bin/python -m benchmarks.update --preset reference --frames 16 --steps 2   # (~7 min)
    taskset -c 0 .venv/bin/python -m benchmarks.update --frames 45 --clip api_google_gemini_omni_flash_video_edit

A clip with 4 keyframes spread over it (their ground-truth stylization), a model trained on them with a guide
made from the painted keyframes ('warp', given as `--guides`), stylized into a folder. Then each keyframe in turn
is painted again (a warm wash over its ground truth) and the folder is updated: the time and the frames
re-rendered are compared with a full re-render with the edited keyframes (whose frames the update must equal bit
for bit: checked). Then an update with nothing changed: what the guides and hashes cost alone (an update
computes them for every frame). Last, a retrained model (more steps): --update re-renders every frame, as it must.
Seconds are wall clock of the whole command (start-up included), 1 torch thread. Writes
benchmarks/results/update-<time>.json and prints the table RESULTS.md quotes.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import RESULTS, cpu_name
from patch_training.frames.sources import FrameSource, to_uint8

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "example_workflows" / "assets" / "sample"


def cli(*args) -> tuple[dict, str, float]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "patch_training", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise SystemExit(f"patch-toon {' '.join(map(str, args))} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr, time.monotonic() - start


def clip_folders(root: Path, clip: str, count: int) -> tuple[Path, Path, list[int]]:
    """Frames and ground truth as PNG folders (00000.png ...), and 4 keyframes spread over the clip."""
    if clip == "sample":
        frames = [Image.open(p).convert("RGB") for p in sorted((SAMPLE / "frames").iterdir())]
        truth = [Image.open(p).convert("RGB") for p in sorted((SAMPLE / "truth").iterdir())]
    else:
        from benchmarks.clips import load_pair
        source, styled = load_pair(clip)[:2]
        frames, truth = [Image.fromarray(f) for f in source], [Image.fromarray(f) for f in styled]
    frames, truth = frames[:count], truth[:count]
    for folder, images in (("frames", frames), ("truth", truth)):
        (root / folder).mkdir()
        for t, image in enumerate(images):
            image.save(root / folder / f"{t:05d}.png")
    n = len(frames)
    return root / "frames", root / "truth", [0, round(n / 3), round(2 * n / 3), n - 1]


def paint(truth: Path, keys_dir: Path, keys: list[int], edited: int | None) -> None:
    keys_dir.mkdir(exist_ok=True)
    for key in keys:
        image = np.asarray(Image.open(truth / f"{key:05d}.png")).astype(np.float32)
        if key == edited:
            image = image * 0.6 + np.array([255, 140, 60], np.float32) * 0.4
        Image.fromarray(image.round().astype(np.uint8)).save(keys_dir / f"{key:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="sample", help="'sample' or a pair of benchmarks/clips.py")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30, help="training steps (speed of stylizing does not "
                                                              "depend on them)")
    parser.add_argument("--preset", default="fast", help="the network (train --preset): a larger one makes the "
                                                         "network, which --update skips, a larger share of the time")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-update-"))
    try:
        frames, truth, keys = clip_folders(root, args.clip, args.frames)
        paint(truth, root / "keys", keys, None)
        model = root / "warp.safetensors"
        cli("train", "--frames", frames, "--keyframes", root / "keys", "--out", model, "--guides", "rgb,warp",
            "--steps", args.steps, "--threads", 1, "--preset", args.preset)
        stylize = ["stylize", "--model", model, "--frames", frames, "--keyframes", root / "keys"]
        _, _, first = cli(*stylize, "--out", root / "out")
        rows = []
        for edited in keys:
            paint(truth, root / "keys", keys, edited)
            upd, err, updated_s = cli(*stylize, "--update", root / "out")
            shutil.rmtree(root / "full", ignore_errors=True)
            _, _, full_s = cli(*stylize, "--out", root / "full")
            same = np.array_equal(to_uint8(FrameSource(root / "out").read_all()),
                                  to_uint8(FrameSource(root / "full").read_all()))
            rows.append({"edited": edited, "rendered": upd["rendered"], "frames": upd["frames"],
                         "update_s": round(updated_s, 2), "full_s": round(full_s, 2), "bit_identical": same,
                         "message": err.strip().splitlines()[-1]})
            paint(truth, root / "keys", keys, None)
            cli(*stylize, "--update", root / "out")  # back to the first keyframes for the next edit
        unchanged, _, unchanged_s = cli(*stylize, "--update", root / "out")  # the guides and hashes alone
        retrained = root / "retrained.safetensors"
        cli("train", "--frames", frames, "--keyframes", root / "keys", "--out", retrained, "--guides", "rgb,warp",
            "--steps", args.steps + 1, "--threads", 1, "--preset", args.preset)
        upd, err, retrained_s = cli("stylize", "--model", retrained, "--frames", frames, "--keyframes",
                                    root / "keys", "--update", root / "out")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {"clip": args.clip, "frames": args.frames, "keyframes": keys, "cpu": cpu_name(), "threads": 1,
              "preset": args.preset, "first_render_s": round(first, 2), "edits": rows,
              "unchanged": {"rendered": unchanged["rendered"], "update_s": round(unchanged_s, 2)},
              "retrained": {"rendered": upd["rendered"], "update_s": round(retrained_s, 2),
                            "message": err.strip().splitlines()[-1]}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"update-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=1))
    print(f"clip {args.clip}, {args.frames} frames, keyframes {keys}, preset {args.preset}, {cpu_name()}, 1 thread; "
          f"first render {first:.1f} s")
    print("| keyframe edited | frames re-rendered | --update (s) | full re-render (s) | bit-identical |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['edited']} | {r['rendered']} of {r['frames']} | {r['update_s']:.1f} | {r['full_s']:.1f} | "
              f"{'yes' if r['bit_identical'] else 'NO'} |")
    print(f"nothing changed (guides and hashes only): {unchanged['rendered']} frames re-rendered, "
          f"{unchanged_s:.1f} s")
    print(f"retrained model: {result['retrained']['message']} ({retrained_s:.1f} s)")


if __name__ == "__main__":
    main()
