"""Keyframe suggestion benchmark: quality with the suggested keyframes vs evenly spaced vs first-and-last.

    taskset -c 0 .venv/bin/python -m benchmarks.suggest              # the README's table (about 40 CPU minutes)
    taskset -c 0 .venv/bin/python -m benchmarks.suggest --tune       # the clips the weights were chosen on
    taskset -c 0 .venv/bin/python -m benchmarks.suggest --quick      # tiny budgets: checks the script

For each clip and K = 2, 3, 4, a `fast` model with the default guides is trained for a fixed number of steps
(not seconds: the result does not depend on the machine's load) with three seeds on K keyframes taken from the
ground truth, chosen three ways, and scored (PSNR, SSIM) on the frames that are not keyframes:
- suggested: suggest_keyframes(frames, K);
- evenly spaced: the middles of K equal parts of the clip, round((i + 0.5) T / K - 0.5);
- first and last: frames 0 and T-1 (K = 2); for K > 2 the first, the last and K-2 evenly between them.
Also the CPU time of the suggestion against the CPU time of stylizing the clip (guides + network, the same
trained model), both in this process, one thread.

The seeds matter: on these short clips the same keyframes trained with another seed score up to about 1 dB
apart, more than moving a keyframe by a few frames changes; hence three seeds, and the report gives the seed
spread (the standard deviation over seeds, averaged over the key sets).

Clips (ground truth on every frame): the bundled sample (32 frames); the paper-craft pair of the ComfyUI media
package (45 frames, benchmarks/clips.py); and "cut": both one after the other (77 frames, a cut at frame 32,
two styles). The weights of the suggestion were chosen on other clips of the same package (--tune: content
edits, not restyles, but frame-aligned with their edit), not on these.
Writes benchmarks/results/suggest-<time>.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import RESULTS, SAMPLE, train_and_stylize
from patch_training import FrameSource, GuideSpec, TrainConfig, make_keyframes, psnr, ssim, suggest_keyframes
from patch_training.frames.suggest import SuggestWeights

GEMINI = "api_google_gemini_omni_flash_video_edit"
CLIPS = ("sample", "paper", "cut")
TUNE_CLIPS = ("kling_o3", "capybara", "vace_v2v", "tune_cut")
TUNE_PAIRS = {"kling_o3": ("api_kling_o3_video_edit", 1), "capybara": ("video_capybara_v0_1_video_edit", 1),
              "vace_v2v": ("video_wan_vace_14B_v2v", 2)}  # name: (pair, keep every n-th frame)
METHODS = ("suggested", "evenly spaced", "first and last")


def load(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames, truth), [T, H, W, 3] float32 0..1, for a clip name of CLIPS or TUNE_CLIPS."""
    from benchmarks.clips import load_pair

    if name == "sample":
        return FrameSource(SAMPLE / "frames").read_all(), FrameSource(SAMPLE / "truth").read_all()
    if name == "paper":
        return load_pair(GEMINI)
    if name == "cut":
        parts = [load("sample"), load("paper")]
    elif name == "tune_cut":
        parts = [load("capybara"), load("kling_o3")]
    else:
        pair, step = TUNE_PAIRS[name]
        return load_pair(pair, step=step)
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def baseline(method: str, t: int, k: int) -> list[int]:
    if method == "evenly spaced":
        return [round((i + 0.5) * t / k - 0.5) for i in range(k)]
    return sorted({int(round(x)) for x in np.linspace(0, t - 1, k)})


def score(frames, truth, keys: list[int], steps: int, seed: int) -> dict:
    """Train on `keys` (fixed steps, 1 thread), stylize the clip; quality on the other frames and CPU times."""
    keyframes, _ = make_keyframes(keys, truth[keys], frames=frames)
    config = TrainConfig(preset="fast", steps=steps, seconds=0, seed=seed, threads=1)
    trained = train_and_stylize(frames, keyframes, config, GuideSpec(), threads=1)
    result = trained.result
    others = [i for i in range(len(frames)) if i not in keys]
    return {"psnr": psnr(result[others], truth[others]), "ssim": ssim(result[others], truth[others]),
            "train_cpu_s": trained.train_s, "stylize_cpu_s": trained.guides_s + trained.stylize_s,
            "frame_psnr": [psnr(result[i:i + 1], truth[i:i + 1]) for i in range(len(frames))],
            "frame_ssim": [ssim(result[i:i + 1], truth[i:i + 1]) for i in range(len(frames))]}


def run(clips, ks, steps: int, seeds: list[int], weights: SuggestWeights, cache: Path | None = None) -> dict:
    """cache: a JSON file of earlier scores by clip, keys, seed and steps (training is deterministic for a seed
    and step count on the CPU, so a score is measured once), read and extended; None: measure everything."""
    torch.set_num_threads(1)
    rows, timings = [], []
    known = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    for clip in clips:
        frames, truth = load(clip)
        t = len(frames)
        start = time.process_time()
        suggestions = {k: suggest_keyframes(frames, k, weights=weights) for k in ks}
        suggest_cpu = (time.process_time() - start) / len(ks)
        shots = suggestions[ks[0]].shots
        done: dict = {}
        for k in ks:
            for method in METHODS:
                keys = suggestions[k].indices if method == "suggested" else baseline(method, t, k)
                for seed in seeds:
                    if (tuple(keys), seed) not in done:
                        name = f"{clip} {keys} seed {seed} steps {steps}"
                        if name not in known:
                            known[name] = score(frames, truth, keys, steps, seed)
                            if cache is not None:
                                cache.write_text(json.dumps(known))
                        done[(tuple(keys), seed)] = r = known[name]
                        print(f"{clip} K={k} {method:15s} {keys} seed {seed}: {r['psnr']:.2f} dB / "
                              f"{r['ssim']:.3f}", file=sys.stderr, flush=True)
                    rows.append({"clip": clip, "k": k, "method": method, "keys": keys, "seed": seed,
                                 **done[(tuple(keys), seed)]})
        stylize_cpu = float(np.median([r["stylize_cpu_s"] for r in done.values()]))
        timings.append({"clip": clip, "frames": t, "shots": [list(s) for s in shots], "suggest_cpu_s": suggest_cpu,
                        "stylize_cpu_s": stylize_cpu,
                        "train_cpu_s": float(np.median([r["train_cpu_s"] for r in done.values()]))})
    return {"rows": rows, "timings": timings}


def report(results: dict) -> str:
    rows, ks = results["rows"], sorted({r["k"] for r in results["rows"]})
    clips = list(dict.fromkeys(r["clip"] for r in rows))

    def values(clip, k, method, key):
        return [r[key] for r in rows if r["clip"] == clip and r["k"] == k and r["method"] == method]

    def mean(clip, k, method, key):
        return float(np.mean(values(clip, k, method, key)))

    def keys(clip, k, method):
        return next(r["keys"] for r in rows if r["clip"] == clip and r["k"] == k and r["method"] == method)

    lines = [f"Steps {results['steps']}, seeds {results['seeds']} (means over the seeds); PSNR dB / SSIM on the "
             f"non-key frames; the keyframes in brackets.", "",
             "| clip | K | " + " | ".join(METHODS) + " | suggested - evenly |",
             "|---|---|" + "---|" * (len(METHODS) + 1)]
    for clip in clips:
        for k in ks:
            cells = [f"{mean(clip, k, m, 'psnr'):.2f} / {mean(clip, k, m, 'ssim'):.3f} {keys(clip, k, m)}"
                     for m in METHODS]
            dp = mean(clip, k, "suggested", "psnr") - mean(clip, k, "evenly spaced", "psnr")
            ds = mean(clip, k, "suggested", "ssim") - mean(clip, k, "evenly spaced", "ssim")
            lines.append(f"| {clip} | {k} | " + " | ".join(cells) + f" | {dp:+.2f} dB / {ds:+.3f} |")
    means = {m: (np.mean([mean(c, k, m, "psnr") for c in clips for k in ks]),
                 np.mean([mean(c, k, m, "ssim") for c in clips for k in ks])) for m in METHODS}
    lines.append("| **mean** | | " + " | ".join(f"{p:.2f} / {s:.3f}" for p, s in means.values()) +
                 f" | {means['suggested'][0] - means['evenly spaced'][0]:+.2f} dB / "
                 f"{means['suggested'][1] - means['evenly spaced'][1]:+.3f} |")
    if len(results["seeds"]) > 1:
        spread = [(np.std(values(c, k, m, "psnr")), np.std(values(c, k, m, "ssim")))
                  for c in clips for k in ks for m in METHODS]
        lines += ["", f"Seed spread (standard deviation over the seeds of one key set, mean over the key sets): "
                      f"{np.mean([p for p, _ in spread]):.2f} dB / {np.mean([s for _, s in spread]):.3f} SSIM."]
    lines += ["", "| clip | frames | shots | suggest CPU s | stylize CPU s | ratio | train CPU s |",
              "|---|---|---|---|---|---|---|"]
    for t in results["timings"]:
        lines.append(f"| {t['clip']} | {t['frames']} | {len(t['shots'])} | {t['suggest_cpu_s']:.3f} | "
                     f"{t['stylize_cpu_s']:.2f} | {t['suggest_cpu_s'] / t['stylize_cpu_s']:.3f} | "
                     f"{t['train_cpu_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="training steps per model (default 300)")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated (default 0,1,2)")
    parser.add_argument("--ks", default="2,3,4")
    parser.add_argument("--clips", help=f"comma-separated (default {','.join(CLIPS)}; with --tune "
                        f"{','.join(TUNE_CLIPS)})")
    parser.add_argument("--tune", action="store_true", help="the clips the weights were chosen on")
    parser.add_argument("--weights", default="", help="SuggestWeights fields, e.g. time=0.3,colour=0.5")
    parser.add_argument("--quick", action="store_true", help="10 steps, K=2, the sample: checks the script")
    parser.add_argument("--cache", type=Path, help="JSON file of scores measured before (read, and extended)")
    args = parser.parse_args()
    clips = (args.clips.split(",") if args.clips else list(TUNE_CLIPS if args.tune else CLIPS))
    ks = [int(k) for k in args.ks.split(",")]
    steps = args.steps
    if args.quick:
        clips, ks, steps = ["sample"], [2], 10
    weights = SuggestWeights(**{k: float(v) for k, v in (p.split("=") for p in args.weights.split(",") if p)})
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.process_time()
    results = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "steps": steps, "seeds": seeds,
               "weights": weights.__dict__, "threads": 1, **run(clips, ks, steps, seeds, weights, args.cache)}
    results["cpu_s"] = time.process_time() - start
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"suggest-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    print(report(results))
    print(f"[{results['cpu_s']:.0f} CPU s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
