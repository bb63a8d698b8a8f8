"""Speed of flow and guide computation, in seconds per frame, on a synthetic clip (for the project benchmark).

python -m benchmarks.guides_speed [--sizes 350x350,1920x1080] [--frames 10] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import time

import cv2

from patch_training import GuideSpec, compute_flow, compute_guides
from patch_training.guides import GUIDE_CHANNELS
from patch_training.guides.synthetic import affine_clip


def measure_speed(sizes=((350, 350), (1080, 1920)), frames: int = 10, threads: int = 1,
                  spec: GuideSpec | None = None, keyframes: tuple[int, ...] | None = None) -> list[dict]:
    """Seconds per frame of compute_flow and of each guide alone and all together, per (H, W) size.

    The clip is a texture rotating by 1 degree and moving by (3, 1) px per frame; keyframes default to the
    first and the last frame. OpenCV runs with `threads` threads (restored afterwards); torch is not used.
    Returns one dict per size: {"size": "WxH", "threads", "frames", "flow_preset", "flow_s", "<guide>_s",
    "all_s", "total_s"}: seconds per frame; total_s = flow_s + all_s.
    """
    spec = spec or GuideSpec()
    old = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        rows = []
        for h, w in sizes:
            step = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 1.0, 1.0)
            step[:, 2] += (3.0, 1.0)
            clip, _ = affine_clip(frames, h, w, step, seed=0, margin=max(h, w) // 4)
            keys = list(keyframes) if keyframes is not None else [0, frames - 1]
            styles = clip[keys].flip(-1).contiguous()  # stands in for the stylized keyframes
            row = {"size": f"{w}x{h}", "threads": threads, "frames": frames, "flow_preset": spec.flow_preset}
            start = time.perf_counter()
            flow = compute_flow(clip, spec.flow_preset)
            row["flow_s"] = (time.perf_counter() - start) / frames
            variants = [(g, (g,)) for g in GUIDE_CHANNELS] + [("all", tuple(GUIDE_CHANNELS))]
            for name, guides in variants:
                s = GuideSpec.from_dict({**spec.to_dict(), "guides": list(guides)})
                start = time.perf_counter()
                compute_guides(clip, s, keys, keyframes=styles, flow=flow)
                row[f"{name}_s"] = (time.perf_counter() - start) / frames
            row["total_s"] = row["flow_s"] + row["all_s"]
            rows.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
        return rows
    finally:
        cv2.setNumThreads(old)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="350x350,1920x1080", help="WxH list, comma-separated")
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    ap.add_argument("--flow-preset", default=GuideSpec().flow_preset)
    args = ap.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x"))[::-1] for s in args.sizes.split(",")]
    for row in measure_speed(sizes, args.frames, args.threads, GuideSpec(flow_preset=args.flow_preset)):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
