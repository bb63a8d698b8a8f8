"""Stylize Video File on a real ComfyUI server (the test host): the server's memory growth while it streams a long
1080p clip with a guided model, from input/ to an MP4 in output/ (issue 10's ComfyUI figure).

    .venv/bin/python -m benchmarks.comfy_long_footage --size 1920x1080 --frames 300

The clip and keyframes are built as in benchmarks.long_footage; the model is trained on them by the command line
(speed and memory only: a few steps). The server's VmRSS is sampled every 0.2 s; growth = peak - idle (after
the model and the pack are loaded by a first tiny run).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import REPO, TESTS
from benchmarks.long_footage import build_clip

sys.path.insert(0, str(TESTS))  # the test suite's ComfyUI host
from comfy_host import ComfyServer, setup_host  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def graph(source: str, model: str, prefix: str) -> dict:
    return {"1": {"class_type": "PatchToonLoadModel", "inputs": {"model_name": model}},
            "2": {"class_type": "PatchToonStylizeFile", "inputs": {
                "model": ["1", 0], "source": source, "filename_prefix": prefix, "output": "mp4", "fps": 0.0,
                "preview_frames": 4, "batch_size": 4, "tile": 0}},
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--gap", type=int, default=250)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    w, h = map(int, args.size.split("x"))
    setup_host.ensure()
    work = Path(tempfile.mkdtemp(prefix="patch-toon-comfy-long-"))
    try:
        video, keys = build_clip(work, w, h, args.frames, args.gap)
        model = work / "long_style.safetensors"
        subprocess.run([sys.executable, "-m", "patch_training", "train", "--frames", str(video), "--keyframes",
                        str(keys), "--out", str(model), "--steps", str(args.steps)], check=True, cwd=REPO,
                       capture_output=True)
        with ComfyServer() as server:
            models = server.root / "models" / "patch_toon"
            models.mkdir(parents=True, exist_ok=True)
            shutil.copy(model, models / model.name)
            source = server.add_input(video)
            server.run(graph("[patch-toon sample] frames", "[patch-toon sample] style", "warmup"), timeout=600)
            pid = server.process.pid
            idle = rss_mb(pid)
            peak, done = [idle], threading.Event()

            def sample():
                while not done.is_set():
                    peak.append(rss_mb(pid))
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            start = time.monotonic()
            server.run(graph(source, model.name, "long"), timeout=6 * 3600)
            seconds = time.monotonic() - start
            done.set()
            sampler.join()
            result = {"size": args.size, "frames": args.frames, "idle_mb": round(idle), "peak_mb": round(max(peak)),
                      "growth_mb": round(max(peak) - idle), "s_per_frame": round(seconds / args.frames, 3),
                      "after_mb": round(rss_mb(pid))}
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
