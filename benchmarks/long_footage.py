"""Long footage benchmark: peak memory and speed of guided `train` + `stylize` from the command line on long
1080p / 4K clips (issue 10), plus the guides' cost per frame streamed vs whole-clip.

The clip is the bundled sample's real motion, scaled to the target size and played back and forth to the
wanted length, as a video file; the stylized keyframes are the sample's own keyframes at frames whose content
they stylize, spaced about `--gap` frames apart (every frame between two keyframes waits for the later one:
the stream's worst case). Each run is a fresh process under /usr/bin/time -v (its peak RSS); speed is read
from the CLI's progress lines (done/total frames) as they arrive.

    .venv/bin/python -m benchmarks.long_footage --sizes 1920x1080 --lengths 300,1000,3000 --out results/long.json
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import REPO, SAMPLE

KEY_SAMPLE_FRAMES = (0, 14, 31)


def fit(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale to cover w x h, centre crop."""
    s = max(w / image.shape[1], h / image.shape[0])
    big = cv2.resize(image, (round(image.shape[1] * s), round(image.shape[0] * s)), interpolation=cv2.INTER_CUBIC)
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y:y + h, x:x + w]


def sample_index(t: int, n: int = 32) -> int:
    period = 2 * (n - 1)
    p = t % period
    return p if p < n else period - p


def build_clip(folder: Path, w: int, h: int, length: int, gap: int) -> tuple[Path, Path]:
    frames = [cv2.imread(str(p)) for p in sorted((SAMPLE / "frames").iterdir())]
    keys = {int(p.stem): cv2.imread(str(p)) for p in sorted((SAMPLE / "keyframes").iterdir())}
    scaled = [fit(f, w, h) for f in frames]
    video = folder / f"clip_{w}x{h}_{length}.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    for t in range(length):
        writer.write(scaled[sample_index(t)])
    writer.release()
    keydir = folder / f"keys_{w}x{h}_{length}"
    keydir.mkdir(exist_ok=True)
    t = 0
    while t < length:  # the first frame at or after t whose content is one of the sample's keyframes
        k = next((u for u in range(t, min(t + 62, length)) if sample_index(u) in keys), None)
        if k is None:
            break
        cv2.imwrite(str(keydir / f"{k:05d}.png"), fit(keys[sample_index(k)], w, h))
        t = k + gap
    return video, keydir


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of the process `pid` (/usr/bin/time) and its descendants still running."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def timed(args: list[str], total: int) -> dict:
    """Run the CLI under /usr/bin/time -v; peak RSS, wall time, and frames/s over the first and last tenth."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as log:
        cmd = ["/usr/bin/time", "-v", "-o", log.name, sys.executable, "-m", "patch_training", *args]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        marks, cpu = [(0.0, 0)], [(0.0, 0)]
        for line in proc.stderr:
            m = re.search(r"(\d+)/(\d+) frames", line)
            if m:
                print(f"{time.monotonic() - start:8.1f} s  {line.strip()}", file=sys.stderr, flush=True)
                marks.append((time.monotonic() - start, int(m.group(1))))
                cpu.append((cpu_seconds(proc.pid), int(m.group(1))))
        out = proc.stdout.read()
        proc.wait()
        if proc.returncode:
            raise RuntimeError(f"{args}: exit {proc.returncode}")
        wall = time.monotonic() - start
        peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", Path(log.name).read_text()).group(1))
    result = {"wall_s": round(wall, 1), "peak_mb": round(peak_kb / 1024), "stdout": out.strip()}
    if len(marks) > 3:
        def rate(lo, hi):
            inside = [(s, d) for s, d in marks if lo <= d <= hi]
            (s0, d0), (s1, d1) = inside[0], inside[-1]
            return (d1 - d0) / (s1 - s0) if s1 > s0 else float("nan")
        tenth = total // 10
        first, last = (tenth // 2, tenth + tenth // 2), (total - tenth, total)  # the first after start-up
        result["first_tenth_fps"] = round(rate(*first), 3)
        result["last_tenth_fps"] = round(rate(*last), 3)
        marks = cpu  # the same rates in frames per CPU second: what other jobs on the machine do not change
        result["first_tenth_frames_per_cpu_s"] = round(rate(*first), 3)
        result["last_tenth_frames_per_cpu_s"] = round(rate(*last), 3)
        result["s_per_frame"] = round(wall / total, 3)
    return result


def guides_cost(w: int, h: int, length: int, rounds: int = 3) -> dict:
    """Seconds per frame of the default guides (flow included) for `length` frames, keyframes at both ends:
    compute_guides on the whole clip vs guides.stream_guides, alternated `rounds` times (best of each)."""
    from patch_training import GuideSpec, compute_guides, to_tensor
    from patch_training.guides.stream import stream_guides

    scaled = [fit(cv2.imread(str(p)), w, h)[..., ::-1].copy() for p in sorted((SAMPLE / "frames").iterdir())]
    u8 = [scaled[sample_index(t)] for t in range(length)]
    spec, keys = GuideSpec(), [0, length - 1]
    whole, streamed = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        frames = to_tensor(u8)
        compute_guides(frames, spec, keys)
        whole.append((time.perf_counter() - start) / length)
        del frames
        start = time.perf_counter()
        for _ in stream_guides(iter(u8), spec, keys):
            pass
        streamed.append((time.perf_counter() - start) / length)
    return {"size": f"{w}x{h}", "frames": length, "whole_s_per_frame": round(min(whole), 4),
            "stream_s_per_frame": round(min(streamed), 4), "ratio": round(min(streamed) / min(whole), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1920x1080")
    parser.add_argument("--lengths", default="300,1000,3000")
    parser.add_argument("--gap", type=int, default=250, help="frames between keyframes")
    parser.add_argument("--steps", type=int, default=200, help="training steps (speed and memory only)")
    parser.add_argument("--work", default=None, help="folder for clips and outputs (default: a temporary one)")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    parser.add_argument("--guides-cost", action="store_true", help="only the guides' cost, streamed vs whole clip")
    args = parser.parse_args()
    if args.guides_cost:
        import torch

        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        rows = [guides_cost(*map(int, size.split("x")), int(args.lengths.split(",")[0]))
                for size in args.sizes.split(",")]
        print(json.dumps(rows))
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=1))
        return
    work = Path(args.work or tempfile.mkdtemp(prefix="patch-toon-long-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes.split(","):
        w, h = map(int, size.split("x"))
        for length in map(int, args.lengths.split(",")):
            video, keys = build_clip(work, w, h, length, args.gap)
            model = work / f"model_{w}x{h}_{length}.safetensors"
            model.unlink(missing_ok=True)
            train = timed(["train", "--frames", str(video), "--keyframes", str(keys), "--out", str(model),
                           "--steps", str(args.steps)], length)
            out = work / f"styled_{w}x{h}_{length}.mp4"
            out.unlink(missing_ok=True)
            styl = timed(["stylize", "--model", str(model), "--frames", str(video), "--out", str(out)], length)
            row = {"size": size, "frames": length, "keyframes": len(list(keys.iterdir())), "gap": args.gap,
                   "train": train, "stylize": styl, "cpu": os.cpu_count()}
            print(json.dumps(row), flush=True)
            results.append(row)
            out.unlink(missing_ok=True)
            video.unlink(missing_ok=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
