"""The batch job's speed: stylizing one shot with 1 and 2 Ray workers, and the job's overhead over `stylize`.

    python -m benchmarks.bench_batch                        # 300 frames of 640x360 (about 10 minutes, 2 cores)
    python -m benchmarks.bench_batch --frames 24 --size 128x96   # checks the script, numbers meaningless
    python -m benchmarks.bench_batch --size 1920x1080 --kinds guided --runs ray1,ray2   # one 1080p shot
    python -m benchmarks.bench_batch --shots 4 --frames 100 --runs none   # 4 shots, training + stylization

A synthetic clip (a texture moving, benchmarks' usual stand-in for footage) as PNG frames, a `fast` model
trained briefly with the default guides (keyframes spread evenly) and one with `--guides rgb`. Each command runs
in its own process, 1 torch thread per process (the library's policy on 2 cores); wall-clock seconds include
starting Python (and Ray). Every batch output is checked against `stylize`'s (within 1/255). The load average
before each run is printed next to it: run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common import REPO
from patch_training.guides.synthetic import translating_clip


def run(*argv: str, env=None) -> tuple[float, dict]:
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "patch_training", *argv], cwd=REPO, capture_output=True,
                            text=True, env=env)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        raise SystemExit(f"failed: {argv}\n{result.stderr[-2000:]}")
    return seconds, json.loads(result.stdout.strip().splitlines()[-1])


def task_times(summary: dict) -> str:
    """Where the job's time went: per task kind, wall and CPU seconds summed over the shots' tasks."""
    sums: dict = {}
    for shot in summary.get("per_shot", []):
        for kind, (wall, cpu) in shot.get("task_seconds", {}).items():
            total = sums.setdefault(kind, [0.0, 0.0])
            total[0], total[1] = total[0] + wall, total[1] + cpu
    return ", ".join(f"{kind} {wall:.1f} s (cpu {cpu:.1f})" for kind, (wall, cpu) in sums.items())


def same_frames(a: Path, b: Path) -> int:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()), (a, b)
    return max(int(np.abs(np.asarray(Image.open(a / n), np.int16) - np.asarray(Image.open(b / n), np.int16)).max())
               for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="640x360", help="WxH")
    parser.add_argument("--keyframes", type=int, default=3, help="keyframes spread evenly over the clip")
    parser.add_argument("--steps", type=int, default=30, help="training steps of the models (speed only)")
    parser.add_argument("--kinds", default="guided,rgb", help="models to time: guided, rgb")
    parser.add_argument("--runs", default="stylize,local1,ray1,ray2",
                        help="what to time for the one shot: stylize, local1, ray1, ray2 ('none': nothing)")
    parser.add_argument("--shots", type=int, default=0,
                        help="also time a manifest of this many shots, each trained (--train-steps) and "
                             "stylized, with 1 and 2 Ray workers")
    parser.add_argument("--train-steps", type=int, default=300, help="training steps per shot of --shots")
    args = parser.parse_args()
    runs = set(args.runs.split(","))
    w, h = map(int, args.size.split("x"))
    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    env = {**os.environ, "RAY_TMPDIR": tempfile.mkdtemp(prefix="ptray", dir="/tmp"), "RAY_USAGE_STATS_ENABLED": "0"}
    frames, _ = translating_clip(args.frames, h, w, 2.0, -1.0, seed=1)
    images = (frames.numpy() * 255).round().astype(np.uint8)
    (root / "frames").mkdir()
    (root / "keys").mkdir()
    for t, image in enumerate(images):
        Image.fromarray(image).save(root / "frames" / f"{t:05d}.png")
    keys = [round(i * args.frames / args.keyframes) for i in range(args.keyframes)]
    for t in keys:
        Image.fromarray(np.ascontiguousarray(255 - images[t][..., ::-1])).save(root / "keys" / f"{t:05d}.png")
    rows = []

    def note(what: str, seconds: float, extra: str = "") -> None:
        load = os.getloadavg()[0]
        rows.append((what, seconds, load, extra))
        print(f"{what:<48} {seconds:8.1f} s   load {load:4.2f}  {extra}", file=sys.stderr)

    for kind, guides in (("guided", "rgb,gauss,edges"), ("rgb", "rgb")):
        if kind not in args.kinds.split(",") or runs <= {"none"}:
            continue
        model = root / f"{kind}.safetensors"
        run("train", "--frames", str(root / "frames"), "--keyframes", str(root / "keys"), "--out", str(model),
            "--steps", str(args.steps), "--guides", guides)
        plain, _ = run("stylize", "--model", str(model), "--frames", str(root / "frames"), "--out",
                       str(root / f"plain-{kind}"))  # the reference frames, timed or not
        if "stylize" in runs:
            note(f"{kind}: stylize", plain)
        for key, label, options in (("local1", "batch, 1 local worker", ["--workers", "1"]),
                                    ("ray1", "batch, Ray, 1 worker", ["--ray", "local", "--workers", "1"]),
                                    ("ray2", "batch, Ray, 2 workers", ["--ray", "local", "--workers", "2"])):
            if key not in runs:
                continue
            out = root / f"{kind}-{label.replace(' ', '').replace(',', '-')}"
            manifest = root / f"{out.name}.json"
            manifest.write_text(json.dumps({"shots": [{"name": kind, "frames": str(root / "frames"),
                                                       "model": str(model), "out": str(out)}]}))
            seconds, summary = run("batch", str(manifest), *options, env=env)
            diff = same_frames(out, root / f"plain-{kind}")
            note(f"{kind}: {label}", seconds, f"job {summary['seconds']:.1f} s, max diff {diff}/255; tasks: "
                 f"{task_times(summary)}")
    if args.shots:
        shots = []
        for i in range(args.shots):  # shots of one size, each its own content and keyframes
            clip, _ = translating_clip(args.frames, h, w, 1.0 + i, 0.5 - i, seed=10 + i)
            shot = root / f"shot{i}"
            for sub in ("frames", "keys"):
                (shot / sub).mkdir(parents=True)
            for t, image in enumerate((clip.numpy() * 255).round().astype(np.uint8)):
                Image.fromarray(image).save(shot / "frames" / f"{t:05d}.png")
                if t in keys:
                    Image.fromarray(np.ascontiguousarray(255 - image[..., ::-1])).save(shot / "keys" / f"{t:05d}.png")
            shots.append({"name": f"shot{i}", "frames": str(shot / "frames"), "keyframes": str(shot / "keys")})
        outs = {}
        for workers in (1, 2):
            out = root / f"shots-{workers}"
            manifest = root / f"shots-{workers}.json"
            manifest.write_text(json.dumps({"defaults": {"steps": args.train_steps, "seed": 0},
                                            "shots": [{**s, "out": str(out / s["name"])} for s in shots]}))
            seconds, summary = run("batch", str(manifest), "--ray", "local", "--workers", str(workers), env=env)
            outs[workers] = out
            note(f"{args.shots} shots (train + stylize): Ray, {workers} worker(s)", seconds,
                 f"job {summary['seconds']:.1f} s; tasks: {task_times(summary)}")
        diff = max(same_frames(outs[1] / s["name"], outs[2] / s["name"]) for s in shots)
        note(f"{args.shots} shots: 1 vs 2 workers, max frame difference", 0.0, f"{diff}/255")
    print(json.dumps({"frames": args.frames, "size": args.size, "keyframes": keys,
                      "rows": [{"what": r[0], "seconds": round(r[1], 2), "load": round(r[2], 2), "note": r[3]}
                               for r in rows]}, indent=1))


if __name__ == "__main__":
    main()
