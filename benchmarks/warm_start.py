"""Warm start after a keyframe edit: how long continuing a trained model takes to reach the quality that
training from scratch reaches in 120 s, and which learning rate and optimizer state get there first.

    taskset -c 0 .venv/bin/python -m benchmarks.warm_start            # about 35 minutes of one core
    taskset -c 0 .venv/bin/python -m benchmarks.warm_start --quick    # tiny budgets: checks the script only

For each clip (the bundled sample and a clip of the data package, ground truth on every frame, as
benchmarks/bench.py's quality section): a model is trained for the steps this CPU does in 120 s (1 thread,
rate calibrated in this run) on keyframes [0, T/2, T-1]; then the keyframes are edited: "replace" moves the
middle keyframe to frame T/4 (its ground-truth stylization), "add" adds frame T/4. Training from scratch on the
new keyframes for 120 s worth of steps gives the target quality (PSNR and SSIM on the frames that are not
keyframes); warm starts from the first model, with several learning-rate scales and with or without Adam's
state, are trained for 2, 5, 10, 15, 20 and 30 s worth of steps (each a run of its own: the learning rate
follows the run's budget, as `train --init M --seconds S` does). Budgets are step counts, so the result does
not depend on what else runs on the machine; seconds are steps / the measured rate.

Also measured: the cost of the whole-clip strip (5 frames rendered with the preview) in training steps/s.
Writes benchmarks/results/warm_start-<time>.json and prints the tables README quotes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from benchmarks.common import RESULTS, cpu_name, load_clip, random_clip
from patch_training import (GuideSpec, TrainConfig, fit_style, make_guide_set, make_keyframes, psnr, ssim,
                            train_style_model)
from patch_training.stylize import stylize
from patch_training.train import warm_start

DEFAULT = (warm_start.WARM_LR_SCALE, warm_start.KEEP_OPTIMIZER_STATE)  # before the runs set the scale
CLIPS = ("sample", "api_google_gemini_omni_flash_video_edit")
CHECKPOINTS = (2.0, 5.0, 10.0, 15.0, 20.0, 30.0)  # seconds worth of steps
# (label, learning-rate scale of the warm start, Adam's state continued). "restart" is the naive warm start:
# the cold run's schedule and a fresh optimizer on the trained weights.
VARIANTS = (("restart: lr x1.0, fresh Adam", 1.0, False), ("lr x1.0, Adam continued", 1.0, True),
            ("lr x0.3, fresh Adam", 0.3, False), ("lr x0.3, Adam continued", 0.3, True),
            ("lr x0.1, Adam continued", 0.1, True))
# Scenarios: (clip, edit, labels of the variants run). The second edit runs the naive and the default only.
SCENARIOS = ((CLIPS[0], "replace", None), (CLIPS[1], "replace", None), (CLIPS[0], "add", ("restart", "default")))


def edited_keys(keys: list[int], t: int, edit: str) -> list[int]:
    """Keyframes after the edit of `keys` (first, middle, last of a clip of t frames): "replace" moves the middle
    one to frame t/4, "add" adds frame t/4."""
    return [keys[0], t // 4, keys[-1]] if edit == "replace" else sorted(keys + [t // 4])


def calibrate(steps: int) -> float:
    """Training steps per CPU second of the default preset at 1 thread on 350x350 frames (as the clips), counted
    in this process's CPU time: another job on the same core slows the wall clock, not this."""
    frames, keyframes = random_clip(3, 350, 350)
    train_style_model(frames, keyframes, TrainConfig(steps=2, seconds=0, threads=1))  # warm-up
    start = time.process_time()
    model = train_style_model(frames, keyframes, TrainConfig(steps=steps, seconds=0, threads=1))
    return model.summary.steps / (time.process_time() - start)


def quality(model, frames, guides, truth, before, after) -> dict:
    """PSNR and SSIM on the frames that are keyframes neither before nor after the edit (the first model saw the
    replaced keyframe's truth: counting that frame would favour the warm start), and (`_after`) on all frames
    that are not keyframes after the edit."""
    out = stylize(model, frames, guides, threads=1)
    neither = [i for i in range(len(frames)) if i not in before and i not in after]
    others = [i for i in range(len(frames)) if i not in after]
    return {"psnr": psnr(out[neither], truth[neither]), "ssim": ssim(out[neither], truth[neither]),
            "psnr_after": psnr(out[others], truth[others]), "ssim_after": ssim(out[others], truth[others])}


def train(frames, keyframes, guide_set, steps, init=None, scale=None):
    if scale is not None:
        warm_start.WARM_LR_SCALE = scale
    config = TrainConfig(steps=max(1, steps), seconds=0, threads=1, preview_every_s=0)
    return fit_style(frames, keyframes, config, guide_set=guide_set, init=init)


def scenario(clip: str, edit: str, labels, rate: float, budget: float, checkpoints, cache: dict) -> dict:
    frames, truth, before = load_clip(clip)
    after = edited_keys(before, len(frames), edit)
    spec = GuideSpec()
    if clip not in cache:  # the first model, shared by the scenarios of a clip; with Adam's state, for the
        keys_a, _ = make_keyframes(before, truth[before], frames=frames)  # variants that continue it
        start = time.process_time()
        warm_start.KEEP_OPTIMIZER_STATE = True
        cache[clip] = train(frames, keys_a, make_guide_set(frames, spec, keys_a), round(rate * budget))
        warm_start.KEEP_OPTIMIZER_STATE = DEFAULT[1]
        print(f"{clip}: first model, {cache[clip].summary.steps} steps, "
              f"{time.process_time() - start:.0f} s CPU", file=sys.stderr, flush=True)
    base = cache[clip]
    keys_b, _ = make_keyframes(after, truth[after], frames=frames)
    guides_b = make_guide_set(frames, spec, keys_b)
    row = {"clip": clip, "edit": edit, "frames": len(frames), "keys_before": before, "keys_after": after}
    cold = train(frames, keys_b, guides_b, round(rate * budget))
    row["cold_target"] = quality(cold, frames, guides_b.guides, truth, before, after)
    row["cold"] = {}
    runs = [("cold", None, None)] + [(label, scale, adam) for label, scale, adam in VARIANTS
                                     if labels is None or any(_matches(label, scale, adam, want) for want in labels)]
    for label, scale, adam in runs:
        results = {}
        for seconds in checkpoints:
            init = None
            if label != "cold":
                init = warm_start.snapshot(base, "benchmark")
                init.optimizer_state = base.optimizer_state if adam else None
            model = train(frames, keys_b, guides_b, round(rate * seconds), init, scale)
            results[seconds] = quality(model, frames, guides_b.guides, truth, before, after)
        row["cold" if label == "cold" else label] = results
        reach = time_to_reach(results, row["cold_target"])
        print(f"{clip} {edit} {label}: {json.dumps(results)} -> reaches cold {budget:.0f} s at {reach}",
              file=sys.stderr, flush=True)
    return row


def _matches(label, scale, adam, want) -> bool:
    if want == "restart":
        return label.startswith("restart")
    return (scale, adam) == DEFAULT


def time_to_reach(results: dict, target: dict, suffix: str = "") -> dict:
    """The first checkpoint (seconds) at which PSNR, SSIM, and both reach the target; None: not within them.
    suffix "_after": measured on every frame that is not a keyframe after the edit."""
    out = {}
    for name, keys in (("psnr", ("psnr",)), ("ssim", ("ssim",)), ("both", ("psnr", "ssim"))):
        keys = [k + suffix for k in keys]
        out[name] = next((s for s, q in sorted(results.items()) if all(q[k] >= target[k] for k in keys)), None)
    return out


def strip_cost(clip: str, rate: float, seconds: float, rounds: int) -> dict:
    """Training steps per CPU second with and without the 5-frame strip at the default preview cadence, runs
    interleaved; counted between the first and the last progress report (the final full-size renders and the
    set-up are not training)."""
    frames, truth, keys = load_clip(clip)
    keyframes, _ = make_keyframes(keys, truth[keys], frames=frames)
    guide_set = make_guide_set(frames, GuideSpec(), keyframes)
    rates = {0: [], 5: []}
    renders = []
    for _ in range(rounds):
        for strip in (0, 5):
            seen = []
            config = TrainConfig(steps=0, seconds=seconds, threads=1)  # default preview cadence (5 s)
            fit_style(frames, keyframes, config, guide_set=guide_set, strip_frames=strip,
                      on_progress=lambda p: seen.append((p.step, time.process_time(), p.strip is not None, p.done)))
            (first, cpu0, _, _), (last, cpu1, _, _) = seen[0], [s for s in seen if not s[3]][-1]
            rates[strip].append((last - first) / (cpu1 - cpu0))
            renders.append(sum(1 for s in seen if s[2] and not s[3]))
    return {"clip": clip, "seconds": seconds, "steps_per_cpu_s_without": rates[0], "steps_per_cpu_s_with": rates[5],
            "ratio": sum(rates[5]) / sum(rates[0]), "strip_refreshes_per_run": renders[1::2]}


def report(results: dict) -> str:
    rate = results["rate_steps_s"]
    lines = [f"Warm start, measured {results['date']} on {results['machine']}, 1 torch thread, 'fast' preset, "
             f"default guides; budgets in steps at {rate:.1f} steps per CPU second ("
             + ("given with --rate" if results.get("rate_given") else "calibrated at the start of this run")
             + f"; {results['rate_steps_s_end']:.1f} at its end).", ""]
    for row in results["scenarios"]:
        target = row["cold_target"]
        lines += [f"### {row['clip']}, {row['edit']}: keyframes {row['keys_before']} -> {row['keys_after']}", "",
                  f"Target (from scratch, {results['budget_s']:.0f} s = {round(rate * results['budget_s'])} steps): "
                  f"{target['psnr']:.2f} dB / {target['ssim']:.3f} on the frames that are keyframes neither before "
                  f"nor after the edit ({target['psnr_after']:.2f} / {target['ssim_after']:.3f} on every frame that "
                  f"is not a keyframe after it). PSNR / SSIM:", "",
                  "| run | " + " | ".join(f"{s:g} s" for s in results["checkpoints"]) + " | reaches target (PSNR / SSIM "
                  "/ both) | both, on every non-key frame |",
                  "|---|" + "---|" * (len(results["checkpoints"]) + 2)]
        for label, runs in row.items():
            if not isinstance(runs, dict) or label in ("cold_target",):
                continue
            runs = {float(s): q for s, q in runs.items()}  # JSON made the seconds strings
            cells = [f"{runs[s]['psnr']:.2f} / {runs[s]['ssim']:.3f}" for s in results["checkpoints"]]
            reach, after = time_to_reach(runs, target), time_to_reach(runs, target, "_after")["both"]
            said = " / ".join("-" if reach[k] is None else f"{reach[k]:g} s" for k in ("psnr", "ssim", "both"))
            lines.append(f"| {'from scratch' if label == 'cold' else label} | " + " | ".join(cells) + f" | {said} | "
                         f"{'-' if after is None else f'{after:g} s'} |")
        lines.append("")
    s = results.get("strip")
    if s:
        lines += [f"Strip: {s['clip']}, {s['seconds']:.0f} s runs x {len(s['steps_per_cpu_s_with'])}, interleaved: "
                  f"{sum(s['steps_per_cpu_s_with']) / len(s['steps_per_cpu_s_with']):.2f} steps per CPU second with "
                  f"the strip, {sum(s['steps_per_cpu_s_without']) / len(s['steps_per_cpu_s_without']):.2f} without "
                  f"(ratio {s['ratio']:.3f}); refreshes per run {s['strip_refreshes_per_run']}.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the script, numbers meaningless")
    parser.add_argument("--only", default="warm,strip", help="sections: warm, strip")
    parser.add_argument("--edits", default="replace,add", help="the warm section's edits: replace, add")
    parser.add_argument("--rate", type=float, default=0.0, help="steps per CPU second to budget with, instead of "
                        "calibrating (an earlier run's rate_steps_s: the same step counts, so the same models)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    budget = 4.0 if args.quick else 120.0
    checkpoints = (0.5, 1.0) if args.quick else CHECKPOINTS
    start = time.process_time()
    rate = args.rate or calibrate(5 if args.quick else 200)
    results = {"date": time.strftime("%Y-%m-%d"), "machine": cpu_name(), "torch": torch.__version__,
               "rate_given": bool(args.rate),
               "rate_steps_s": rate, "budget_s": budget, "checkpoints": list(checkpoints), "scenarios": []}
    print(f"rate: {rate:.2f} steps/s", file=sys.stderr, flush=True)
    if "warm" in args.only:
        cache: dict = {}
        for clip, edit, labels in SCENARIOS[:1] if args.quick else SCENARIOS:
            if edit in args.edits.split(","):
                results["scenarios"].append(scenario(clip, edit, labels, rate, budget, checkpoints, cache))
    if "strip" in args.only:
        results["strip"] = strip_cost("sample", rate, 3.0 if args.quick else 30.0, 1 if args.quick else 3)
    results["rate_steps_s_end"] = calibrate(5 if args.quick else 200)
    results["cpu_s"] = time.process_time() - start
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"warm_start-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    print(report(results))
    print(f"[{results['cpu_s']:.0f} s CPU; rate at the end {results['rate_steps_s_end']:.2f} steps/s]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
