"""Live session: after a keyframe edit, how long until the strip shows what training from scratch would give.

    nice .venv/bin/python -m benchmarks.live                       # small: 3 edits, 350x350, 1 thread (~4 min)
    .venv/bin/python -m benchmarks.live --edits 6 --threads 2      # full size at 350x350 (~8 min, a quiet machine)
    .venv/bin/python -m benchmarks.live --edits 4 --size 1080 --threads 2   # 1080p (the sample upscaled)
    nice .venv/bin/python -m benchmarks.live --quick               # checks the script only

The bundled sample clip (32 frames) in two styles with a ground truth on every frame: "truth" (its real restyle)
and "pencil" (benchmarks/styles.py's filter of the frames). Keyframes: the first and the last frame.

Seconds are this process's CPU seconds (time.process_time), not the wall: the machine's other work then changes
the wall time of a run, not its result (the live session's schedules count the same clock, `LiveSession(clock=)`;
with --threads 1, a CPU second is a wall second on a quiet core). First the training rate is calibrated (steps
per CPU second of a fresh start, 8 s); targets: for each style, training from scratch for --train seconds worth of
those steps (fit_style, the library's defaults), scored by SSIM on the strip's frames that are not keyframes. Then
one LiveSession (the folder watched, strip/ written, refreshed as by default) trains --train seconds on the first
style; each edit saves both keyframes over with the other style's (a temporary name renamed: an atomic save),
and the CPU seconds from the save to the first strip whose non-keyframe frames reach that style's target SSIM
are the latency (its wall time, and the wall time until the session took the files, are reported beside it); the
session then trains --train seconds more before the next edit, which switches back. Also: training steps per CPU
second of the same session with the strip refreshed (the defaults) and without (refresh every 10^9 s).
Writes benchmarks/results/live-<time>.json and prints the lines README quotes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from benchmarks.common import RESULTS, cpu_name, load_clip, train_and_stylize
from benchmarks.styles import stylized
from patch_training import GuideSpec, TrainConfig, make_guide_set, make_keyframes, ssim
from patch_training.frames.selection import strip_indices
from patch_training.pipeline.live import LiveSession, LiveSettings
from patch_training.pipeline.train_files import TrainOptions
from patch_training.train.live import LiveTrainer


def resized(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[1] == size and x.shape[2] == size:
        return x
    y = F.interpolate(x.permute(0, 3, 1, 2), size=(size, size), mode="bicubic", align_corners=False)
    return y.permute(0, 2, 3, 1).clamp(0, 1).contiguous()


def save_png(path: Path, image: torch.Tensor) -> None:
    array = image.clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    tmp = path.with_name(f".{path.name}.saving")
    Image.fromarray(array).save(tmp, format="PNG")
    os.replace(tmp, path)  # an atomic save: the watcher never sees a part


def quantized(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 1).mul(255).round().div(255)


def calibrate(frames, styles, keys, threads, seconds: float) -> float:
    """Steps per CPU second of a fresh start (small patches first, as the first 800 steps of any run here)."""
    keyframes, _ = make_keyframes(keys, quantized(styles["pencil"][keys]), frames=frames)
    guides = make_guide_set(frames, GuideSpec(), keyframes)
    trainer = LiveTrainer(frames[keys], make_keyframes(list(range(len(keys))), keyframes.images)[0],
                          TrainConfig(seconds=30, threads=threads), guides.training, GuideSpec().to_dict())
    trainer.train(3)  # warm-up
    start, steps = time.process_time(), trainer.steps
    while time.process_time() - start < seconds:
        trainer.train(5)
    return (trainer.steps - steps) / (time.process_time() - start)


def target_ssim(frames, styles, keys, others, steps, threads) -> dict[str, float]:
    targets = {}
    for name, truth in styles.items():
        keyframes, _ = make_keyframes(keys, quantized(truth[keys]), frames=frames)
        run = train_and_stylize(frames, keyframes, TrainConfig(steps=steps, seconds=0, threads=threads), GuideSpec(),
                                threads=threads)
        targets[name] = ssim(run.result[others], truth[others])
        print(f"target {name}: {steps} steps from scratch: SSIM {targets[name]:.4f}", file=sys.stderr, flush=True)
    return targets


def nine_tenths(trace: list, target: float) -> float | None:
    """CPU seconds after the save until a strip went 90 % of the way from the first strip after the save to the
    target SSIM (a latency that a strip fluctuating just under the target does not hide), or None."""
    if not trace:
        return None
    start = trace[0][2]
    return next((cpu for cpu, _, score in trace if score >= start + 0.9 * (target - start)), None)


def cpu_wait(session: LiveSession, seconds: float) -> None:
    """Let the session train for `seconds` of this process's CPU time."""
    start = time.process_time()
    while time.process_time() - start < seconds and session.wait(0.1):
        pass


def steps_rate(folder: Path, keydir: Path, settings: LiveSettings, threads: int, seconds: float) -> tuple[float, float]:
    """(training steps per CPU second over `seconds` after a 3 s start, share of the wall time spent refreshing)."""
    out = Path(tempfile.mkdtemp(prefix="live-rate-"))
    session = LiveSession(folder, keydir, TrainOptions(threads=threads), out, settings, clock=time.process_time)
    session.start()
    cpu_wait(session, 3.0)
    s0, c0, t0, r0 = session.steps, time.process_time(), time.monotonic(), session.refresh_total_s
    cpu_wait(session, seconds)
    s1, c1, t1, r1 = session.steps, time.process_time(), time.monotonic(), session.refresh_total_s
    session.stop()
    return (s1 - s0) / (c1 - c0), (r1 - r0) / (t1 - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--train", type=float, default=30.0, help="CPU seconds before each edit, and of the targets")
    parser.add_argument("--size", type=int, default=350)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=float, default=60.0, help="give up an edit after this many CPU seconds")
    parser.add_argument("--rate-seconds", type=float, default=15.0)
    parser.add_argument("--on-change", default="auto", choices=["auto", "warm", "cold"])
    parser.add_argument("--no-rate", action="store_true", help="skip the steps/s comparison")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.edits, args.train, args.limit, args.rate_seconds = 1, 6.0, 15.0, 4.0
    # This thread's torch work (scoring the strip) at the same thread count: idle OpenMP workers of a larger pool
    # spin on the cores and count in this process's CPU time.
    torch.set_num_threads(args.threads)
    frames, truth, _ = load_clip("sample")
    frames, truth = resized(frames, args.size), resized(truth, args.size)
    styles = {"truth": truth, "pencil": stylized(frames, "pencil")}
    t = len(frames)
    keys = [0, t - 1]
    settings = LiveSettings(on_change=args.on_change, ramp_s=args.train)  # the fresh start of the targets
    session_strip = strip_indices(t, settings.strip_frames)
    others = [i for i in session_strip if i not in keys]
    if args.size > settings.strip_side:  # the strip is rendered at most strip_side a side: score it there
        small = {k: F.interpolate(v.permute(0, 3, 1, 2), size=(settings.strip_side,) * 2, mode="area")
                 .permute(0, 2, 3, 1) for k, v in styles.items()}
    else:
        small = styles
    rate = calibrate(frames, styles, keys, args.threads, 3.0 if args.quick else 8.0)
    target_steps = round(rate * args.train)
    print(f"calibrated: {rate:.2f} steps per CPU second; {args.train:.0f} s = {target_steps} steps", file=sys.stderr)
    targets = target_ssim(frames, styles, keys, others, target_steps, args.threads)

    work = Path(tempfile.mkdtemp(prefix="live-bench-"))
    folder, keydir, out = work / "frames", work / "keys", work / "preview"
    folder.mkdir()
    keydir.mkdir()
    for i in range(t):
        save_png(folder / f"{i:05d}.png", frames[i])
    order = ["truth", "pencil"]
    for k in keys:
        save_png(keydir / f"{k:05d}.png", styles[order[0]][k])
    session = LiveSession(folder, keydir, TrainOptions(threads=args.threads), out, settings, clock=time.process_time)
    session.start()
    cpu_wait(session, args.train)
    edits = []
    position = {f: n for n, f in enumerate(session_strip)}
    for e in range(args.edits):
        style = order[(e + 1) % 2]
        seen = session.refreshes
        began, cpu_began, steps_began = time.monotonic(), time.process_time(), session.steps
        for k in keys:
            save_png(keydir / f"{k:05d}.png", styles[style][k])
        latency, wall, steps, best, picked, trace = None, None, None, 0.0, None, []
        want = {f"{k:05d}.png": hashlib.sha256((keydir / f"{k:05d}.png").read_bytes()).hexdigest() for k in keys}
        while time.process_time() - cpu_began < args.limit:
            time.sleep(0.02)
            if picked is None and session.keyframes() == want:
                picked = time.monotonic() - began
            if session.refreshes == seen:
                continue
            seen = session.refreshes
            _, strip = session.strip()
            score = ssim(strip[[position[i] for i in others]], small[style][others])
            best = max(best, score)
            trace.append([round(time.process_time() - cpu_began, 2), session.steps - steps_began, round(score, 4)])
            if picked is not None and score >= targets[style]:
                latency, wall = time.process_time() - cpu_began, time.monotonic() - began
                steps = session.steps - steps_began
                break
        near = nine_tenths(trace, targets[style])
        edits.append({"to": style, "latency_cpu_s": latency, "latency_wall_s": wall, "latency_steps": steps,
                      "picked_up_wall_s": picked, "best_ssim": best, "target": targets[style],
                      "nine_tenths_cpu_s": near, "trace": trace})
        print(f"edit {e + 1} (to {style}): taken after {picked or float('nan'):.2f} s (wall); target SSIM "
              f"{targets[style]:.4f} reached after "
              f"{'%.2f CPU s (%.2f s wall, %d steps)' % (latency, wall, steps) if latency is not None else 'more than %.0f CPU s' % args.limit}"
              f" (best {best:.4f}; 90 % of the way from the first strip to the target after "
              f"{'%.2f CPU s' % near if near is not None else 'more than %.0f CPU s' % args.limit})", file=sys.stderr,
              flush=True)
        cpu_wait(session, max(0.0, args.train - (time.process_time() - cpu_began)))
    session.stop()
    # The refresh's share: the same session setting with and without the strip refreshed.
    with_strip, share, without = float("nan"), float("nan"), float("nan")
    if not args.no_rate:
        with_strip, share = steps_rate(folder, keydir, settings, args.threads, args.rate_seconds)
        without, _ = steps_rate(folder, keydir, LiveSettings(refresh_s=1e9), args.threads, args.rate_seconds)
    def median_worst(key: str) -> tuple[float | None, float | None]:  # an edit that never got there counts as last
        values = [math.inf if e[key] is None else e[key] for e in edits]
        return tuple(None if v == math.inf else v for v in (statistics.median(values), max(values)))
    (median, worst), (near_median, near_worst) = median_worst("latency_cpu_s"), median_worst("nine_tenths_cpu_s")
    result = {"cpu": cpu_name(), "threads": args.threads, "size": args.size, "train_s": args.train,
              "steps_per_cpu_s": rate, "target_steps": target_steps, "targets": targets, "edits": edits,
              "latency_median_s": median, "latency_worst_s": worst,
              "nine_tenths_median_s": near_median, "nine_tenths_worst_s": near_worst,
              "on_change": args.on_change, "steps_per_s_with_strip": with_strip, "steps_per_s_without": without, "refresh_share": share,
              "strip_frames": session_strip, "when": time.strftime("%Y-%m-%d %H:%M")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"live-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"{args.size}x{args.size}, {args.threads} thread(s), {len(edits)} edits: latency median "
          f"{result['latency_median_s']}, worst {result['latency_worst_s']} CPU s (None: not reached in "
          f"{args.limit:.0f} s); 90 % of the way: median {near_median}, worst {near_worst} CPU s; steps per CPU s {with_strip:.2f} with the strip refreshed, {without:.2f} without "
          f"({100 * (1 - with_strip / without):.0f} % fewer; refresh took {100 * share:.0f} % of the time)")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
