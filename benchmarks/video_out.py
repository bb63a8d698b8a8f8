"""What writing the stylized clip as a video costs: PyAV's H.264 (what Stylize Video File and `patch-toon stylize`
write where PyAV is installed) against OpenCV's mp4v (the fallback), at 1080p on the bundled sample's frames
(upscaled, so the picture is real footage, not noise): frames/s of the encoder alone, file size, and PSNR of the
decoded video against the frames given.

    .venv/bin/python -m benchmarks.video_out              # 96 frames of 1920x1080 (about a minute on 2 cores)
    .venv/bin/python -m benchmarks.video_out --frames 24  # a quick look

Both encoders run in this process with their own threads (libx264: its default, about 1.5 per core; OpenCV's
FFmpeg: its default). Wall-clock frames/s depends on what else the machine runs; CPU time per frame (all threads
together) much less: compare that on a shared machine.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from patch_training import FrameSource, psnr, to_tensor, to_uint8
from patch_training.frames.video_out import OpenCVVideo, load_pyav, open_video

from .common import SAMPLE, cpu_name

SIZE = (1080, 1920)  # H, W


def frames_1080p(count: int) -> list[np.ndarray]:
    sample = to_uint8(FrameSource(SAMPLE / "frames").read_all())
    return [cv2.resize(sample[t % len(sample)], SIZE[::-1], interpolation=cv2.INTER_CUBIC) for t in range(count)]


def decode(path: Path) -> list[np.ndarray]:
    av = load_pyav()
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def measure(name: str, encoder, path: Path, images: list[np.ndarray]) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    for image in images:
        encoder.write(image)
    encoder.close()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    decoded = decode(path)
    quality = float(np.mean([psnr(to_tensor([a]), to_tensor([b])) for a, b in zip(decoded, images)]))
    return {"encoder": name, "fps": len(images) / seconds, "cpu_ms": 1000 * cpu / len(images), "megabytes": path.stat().st_size / 1e6,
            "psnr": quality, "frames": len(decoded)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frames", type=int, default=96)
    args = parser.parse_args()
    if load_pyav() is None:
        raise SystemExit("PyAV is not installed: `pip install av` (requirements-dev.txt pins it)")
    images = frames_1080p(args.frames)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        h264 = Path(folder) / "h264.mp4"
        rows.append(measure("PyAV H.264 (libx264 crf 18, preset fast)", open_video(h264, ".mp4", 25.0, SIZE), h264, images))
        mp4v = Path(folder) / "mp4v.mp4"
        rows.append(measure("OpenCV mp4v (fallback)", OpenCVVideo(mp4v, ".mp4", 25.0, SIZE, "bench", []), mp4v,
                            images))
    print(f"{args.frames} frames of {SIZE[1]}x{SIZE[0]}, {cpu_name()}")
    print("| encoder | frames/s (wall) | CPU ms per frame (all threads) | MB | MB per minute at 25 fps | PSNR dB | "
          "frames read back |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        per_minute = r["megabytes"] / args.frames * 25 * 60
        print(f"| {r['encoder']} | {r['fps']:.1f} | {r['cpu_ms']:.0f} | {r['megabytes']:.2f} | {per_minute:.0f} | {r['psnr']:.2f} | "
              f"{r['frames']} |")


if __name__ == "__main__":
    main()
