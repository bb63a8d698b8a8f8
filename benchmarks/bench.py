"""The project benchmark: speed, memory and quality, as ratios against baselines measured in the same run.

    python -m benchmarks.bench                 # everything (about 40 minutes on a 2-core CPU)
    python -m benchmarks.bench --only speed    # sections: speed, threads, memory, guides, quality
    python -m benchmarks.bench --quick         # tiny budgets: checks the script, numbers meaningless

Writes benchmarks/BENCH_TABLES.md (its tables; benchmarks/RESULTS.md tells what they measure) and
benchmarks/results/<date>.json.
Every figure states its torch thread count. Run it on a quiet machine: other processes skew CPU timings.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import REPO, RESULTS, cpu_name, load_clip, random_clip, train_and_stylize
from benchmarks.original import OriginalGenerator, OriginalTrainer, vgg_layers
from patch_training import (PRESETS, ColorLUT, GuideSpec, StyleModel, TrainConfig, compute_flow, make_keyframes,
                            parse_guides, psnr, ssim, temporal_instability, train_style_model)
from patch_training.guides import DEFAULT_GUIDES
from patch_training.model.networks import build_generator
from patch_training.runtime import cpu_has_fast_bf16
from patch_training.stylize import stylize

TABLES = REPO / "benchmarks" / "BENCH_TABLES.md"  # written by every full run and by --merge


# ----------------------------------------------------------------------------------------------- speed

def _random_vgg_file(folder: Path) -> str:
    """A VGG19 weights file with random weights: enables the perceptual term at its real cost."""
    from safetensors.torch import save_file
    vgg = vgg_layers()
    state = {f"features.{i}.{p}": getattr(vgg[i], p).detach().contiguous() for i in (0, 2, 5) for p in ("weight", "bias")}
    path = folder / "vgg_random.safetensors"
    save_file(state, str(path))
    return str(path)


def time_original_steps(steps: int) -> float:
    trainer = OriginalTrainer()
    g = torch.Generator().manual_seed(0)
    pre, post = torch.rand(40, 3, 32, 32, generator=g) * 2 - 1, torch.rand(40, 3, 32, 32, generator=g) * 2 - 1
    trainer.step(pre, post)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step(pre, post)
    return steps / (time.perf_counter() - start)


def time_our_steps(preset: str, loss: str, precision: str, steps: int, vgg: str = "") -> float:
    frames, keyframes = random_clip()
    config = TrainConfig(preset=preset, loss=loss, steps=1, seconds=0, precision=precision, vgg_path=vgg,
                         threads=torch.get_num_threads())
    train_style_model(frames, keyframes, config)  # warm-up
    config = TrainConfig(preset=preset, loss=loss, steps=steps, seconds=0, precision=precision, vgg_path=vgg,
                         threads=torch.get_num_threads())
    model = train_style_model(frames, keyframes, config)
    return model.summary.steps / model.summary.seconds


def _median_time(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def section_speed(quick: bool) -> dict:
    out: dict = {"threads": torch.get_num_threads(), "bf16_native": cpu_has_fast_bf16()}
    n_ref = 2 if quick else 10
    with tempfile.TemporaryDirectory() as tmp:
        vgg = _random_vgg_file(Path(tmp))
        out["train_original_steps_s"] = time_original_steps(n_ref)
        out["train_reference_paper_losses_bf16_steps_s"] = time_our_steps("reference", "paper", "auto", n_ref, vgg)
        out["train_reference_paper_losses_fp32_steps_s"] = time_our_steps("reference", "paper", "fp32", n_ref, vgg)
        out["train_reference_default_steps_s"] = time_our_steps("reference", "auto", "auto", n_ref)
    for preset in ("fast", "balanced"):
        for precision in ("auto", "fp32"):
            n = 10 if quick else 100
            out[f"train_{preset}_{precision}_steps_s"] = time_our_steps(preset, "auto", precision, n)
    # inference: one 540x960 frame, batch 1
    frame = torch.rand(1, 540, 960, 3)
    mp = 540 * 960 / 1e6
    original = OriginalGenerator(PRESETS["reference"]).eval()
    x = frame.permute(0, 3, 1, 2) * 2 - 1
    with torch.no_grad():
        out["infer_original_s_per_mp"] = _median_time(lambda: original(x), 1 if quick else 3) / mp
    for preset in ("reference", "balanced", "fast"):
        torch.manual_seed(0)
        model = StyleModel(build_generator(PRESETS[preset]), PRESETS[preset])
        for precision in ("auto", "fp32"):
            t = _median_time(lambda: stylize(model, frame, precision=precision, threads=torch.get_num_threads()),
                             1 if quick else 3)
            out[f"infer_{preset}_{precision}_s_per_mp"] = t / mp
    # The network alone: one tile covering the frame (the default 768 tile cuts 960x540 in two overlapping tiles)
    torch.manual_seed(0)
    model = StyleModel(build_generator(PRESETS["reference"]), PRESETS["reference"])
    t = _median_time(lambda: stylize(model, frame, tile=1024, precision="fp32", threads=torch.get_num_threads()),
                     1 if quick else 3)
    out["infer_reference_fp32_one_tile_s_per_mp"] = t / mp
    return out


# ----------------------------------------------------------------------------------------------- threads

def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def section_threads(quick: bool) -> dict:
    """Training steps/s of the default preset at 1 and 2 threads, on a quiet CPU and beside a busy process."""
    out = {}
    n = 10 if quick else 60
    for busy in (False, True):
        spinner = None
        if busy:
            spinner = subprocess.Popen([sys.executable, "-c", f"import benchmarks.bench as b; b._spin({10_000})"],
                                       cwd=REPO)
        try:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                out[f"{'busy' if busy else 'quiet'}_{threads}_threads_steps_s"] = time_our_steps("fast", "auto", "auto", n)
        finally:
            if spinner is not None:
                spinner.kill()
    torch.set_num_threads(1)
    return out


# ----------------------------------------------------------------------------------------------- memory

def _peak_rss_of(preset: str, h: int, w: int, tile: int) -> float:
    # VmHWM, not getrusage: on Linux ru_maxrss survives fork+exec and would report this (large) process.
    code = (
        "import torch\n"
        "from patch_training import PRESETS, StyleModel\n"
        "from patch_training.model.networks import build_generator\n"
        "from patch_training.stylize import stylize\n"
        f"m = StyleModel(build_generator(PRESETS[{preset!r}]), PRESETS[{preset!r}])\n"
        f"out = stylize(m, torch.rand(1, {h}, {w}, 3), tile={tile}, threads=1)\n"
        "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0] / 1024)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                            env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})
    return float(result.stdout.strip().splitlines()[-1])


def section_memory(quick: bool) -> dict:
    out = {}
    for preset in ("fast", "reference"):
        for h, w in ((1080, 1920), (2160, 3840)):
            out[f"peak_rss_mb_{preset}_{w}x{h}"] = _peak_rss_of(preset, h, w, 0)
    return out


# ----------------------------------------------------------------------------------------------- guides

def section_guides(quick: bool) -> dict:
    """Seconds per frame of flow + guides vs stylization with the default preset, at 350x350 and 1920x1080,
    with each of the flow presets 'fast' (the default) and 'balanced'."""
    from benchmarks.guides_speed import measure_speed
    sizes = ((350, 350), (1080, 1920))
    frames = 4 if quick else 10
    torch.manual_seed(0)
    config = PRESETS["fast"].with_inputs(3 + GuideSpec().channels)
    model = StyleModel(build_generator(config), config, GuideSpec().to_dict())
    stylize_s = {}
    for h, w in sizes:
        x, guides = torch.rand(2, h, w, 3), torch.rand(2, h, w, GuideSpec().channels)
        stylize_s[f"{w}x{h}"] = _median_time(lambda: stylize(model, x, guides, threads=1), 1 if quick else 3) / 2
    rows = []
    for preset in dict.fromkeys((GuideSpec().flow_preset, "fast", "balanced")):
        for row in measure_speed(sizes, frames=frames, threads=1, spec=GuideSpec(flow_preset=preset)):
            row["stylize_s"] = stylize_s[row["size"]]
            row["default_guides_s"] = sum(row[k] for k in ["flow_s"] + [f"{g}_s" for g in GuideSpec().guides])
            rows.append(row)
    return {"rows": rows, "default": list(GuideSpec().guides), "default_flow_preset": GuideSpec().flow_preset}


# ----------------------------------------------------------------------------------------------- quality

def quality_job(clip: str, preset: str, loss: str, precision: str, guides: str, flow: str, steps: int,
                label: str) -> dict:
    torch.set_num_threads(1)
    frames, truth, keys = load_clip(clip)
    keyframes, _ = make_keyframes(keys, truth[keys], frames=frames)
    others = [i for i in range(len(frames)) if i not in keys]
    spec = GuideSpec(guides=parse_guides(guides), flow_preset=flow)
    config = TrainConfig(preset=preset, loss=loss, steps=steps, seconds=0, precision=precision, threads=1)
    run = train_and_stylize(frames, keyframes, config, spec if spec.guides else None, threads=1,
                            clock=time.perf_counter)
    model, guide_maps, result = run.model, run.guides, run.result  # both inferences below use the same guides
    train_s, per_frame = run.train_s, (run.guides_s + run.stylize_s) / len(frames)
    motion = compute_flow(frames, "balanced", 1)  # measures instability, whatever the guides used
    row = {"clip": clip, "label": label, "preset": preset, "loss": loss, "precision": precision, "guides": guides,
           "flow_preset": flow, "steps": steps, "train_s": train_s, "psnr": psnr(result[others], truth[others]),
           "ssim": ssim(result[others], truth[others]), "s_per_frame": per_frame,
           "instability": temporal_instability(result, motion)}
    if label == "default":  # the same model, inference in float32: does bf16 inference cost quality?
        exact = stylize(model, frames, guide_maps, precision="fp32", threads=1)
        row["fp32_infer_psnr"], row["fp32_infer_ssim"] = psnr(exact[others], truth[others]), ssim(exact[others], truth[others])
        row["bf16_vs_fp32_psnr"] = psnr(result, exact)
    return row


def calibrate(preset: str, loss: str, precision: str, quick: bool) -> float:
    """Training steps/s of a configuration at 1 thread, on 350x350 frames (as the quality clips)."""
    torch.set_num_threads(1)
    frames, keyframes = random_clip(3, 350, 350)
    n = 3 if quick else (8 if preset == "reference" else 60)
    return time_our_steps(preset, loss, precision, n)


def section_quality(quick: bool, long: bool) -> dict:
    """Quality on non-key frames after equal CPU budgets. A budget of S seconds is the number of steps this
    CPU does in S seconds at 1 thread (calibrated in this run), so results do not depend on what else runs
    while the (parallel) quality jobs train."""
    budget = 4.0 if quick else 120.0
    default = ",".join(("rgb",) + DEFAULT_GUIDES)
    flow = GuideSpec().flow_preset
    variants = [  # label, preset, loss, precision, guides, flow preset
        ("default", "fast", "auto", "auto", default, flow),
        ("rgb only", "fast", "auto", "auto", "rgb", flow),
        ("loss l1", "fast", "l1", "auto", default, flow),
        ("loss paper (no VGG)", "fast", "paper", "auto", default, flow),
        ("fp32", "fast", "auto", "fp32", default, flow),
        ("gauss only", "fast", "auto", "auto", "rgb,gauss", flow),
        ("edges only", "fast", "auto", "auto", "rgb,edges", flow),
        ("+denoise", "fast", "auto", "auto", default + ",denoise", flow),
        ("+warp", "fast", "auto", "auto", default + ",warp", flow),
        ("flow 'fast'" if flow != "fast" else "flow 'balanced'", "fast", "auto", "auto", default,
         "fast" if flow != "fast" else "balanced"),
        ("balanced", "balanced", "auto", "auto", default, flow),
        ("reference", "reference", "auto", "auto", default, flow),
    ]
    rates = {}
    for _, preset, loss, precision, _, _ in variants:
        if (preset, loss, precision) not in rates:
            rates[(preset, loss, precision)] = calibrate(preset, loss, precision, quick)
    clips = ["sample", "api_google_gemini_omni_flash_video_edit"]
    jobs = []
    for clip in clips:
        for label, preset, loss, precision, guides, flow_preset in variants:
            steps = max(1, round(rates[(preset, loss, precision)] * budget))
            jobs.append((clip, preset, loss, precision, guides, flow_preset, steps, label))
    if long:
        for label, preset in (("default", "fast"), ("reference", "reference")):
            steps = max(1, round(rates[(preset, "auto", "auto")] * budget * 10))
            jobs.append(("sample", preset, "auto", "auto", default, flow, steps, f"{label}, 10x budget"))
    baselines = []
    for clip in clips:
        frames, truth, keys = load_clip(clip)
        others = [i for i in range(len(frames)) if i not in keys]
        lut = ColorLUT(frames[keys], truth[keys])(frames)
        flow = compute_flow(frames, "balanced", 1)
        baselines.append({"clip": clip, "identity_psnr": psnr(frames[others], truth[others]),
                          "identity_ssim": ssim(frames[others], truth[others]),
                          "lut_psnr": psnr(lut[others], truth[others]), "lut_ssim": ssim(lut[others], truth[others]),
                          "truth_instability": temporal_instability(truth, flow),
                          "input_instability": temporal_instability(frames, flow),
                          "lut_instability": temporal_instability(lut, flow)})
    # Longest first, two at a time, one thread each: each job has a core of its own (the machine has 2).
    jobs.sort(key=lambda j: -j[6] * (20 if j[1] == "reference" else 1))
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(quality_job, *zip(*jobs)))
    return {"budget_s": budget, "rates": {"/".join(k): v for k, v in rates.items()}, "baselines": baselines,
            "runs": rows}


# ----------------------------------------------------------------------------------------------- report

def report(results: dict) -> str:
    lines = ["# Benchmark results", "",
             f"Measured {results['date']} on {results['machine']}; torch {results['torch']}.", ""]
    s = results.get("speed")
    if s:
        t = s["threads"]
        o = s["train_original_steps_s"]
        lines += [f"## Training throughput ({t} torch thread{'s' if t > 1 else ''})", "",
                  "| what | steps/s | vs original |", "|---|---|---|",
                  f"| original's step (re-implemented: conv2 twice, G twice per step, fp32) | {o:.3f} | 1.00x |"]
        for key, label in (("train_reference_paper_losses_fp32_steps_s", "reference, paper's losses, fp32"),
                           ("train_reference_paper_losses_bf16_steps_s", "reference, paper's losses, bf16 autocast"),
                           ("train_reference_default_steps_s", "reference, default losses (no VGG file), bf16")):
            lines.append(f"| {label} | {s[key]:.3f} | {s[key] / o:.2f}x |")
        for preset in ("fast", "balanced"):
            for p in ("fp32", "auto"):
                v = s[f"train_{preset}_{p}_steps_s"]
                lines.append(f"| {preset} (batch 16 of 48x48), {'bf16' if p == 'auto' else 'fp32'} | {v:.2f} | "
                             f"{v / o:.1f}x |")
        io_ = s["infer_original_s_per_mp"]
        lines += ["", f"## Inference, one 960x540 frame, batch 1 ({t} thread{'s' if t > 1 else ''})", "",
                  "| what | s / megapixel | speed-up vs original |", "|---|---|---|",
                  f"| original generator (fp32, conv2 twice) | {io_:.3f} | 1.00x |"]
        for preset in ("reference", "balanced", "fast"):
            for p in ("fp32", "auto"):
                v = s[f"infer_{preset}_{p}_s_per_mp"]
                lines.append(f"| {preset}, {'bf16' if p == 'auto' else 'fp32'} | {v:.3f} | {io_ / v:.1f}x |")
            if preset == "reference" and "infer_reference_fp32_one_tile_s_per_mp" in s:
                v = s["infer_reference_fp32_one_tile_s_per_mp"]
                lines.append(f"| reference, fp32, one tile (tile 1024: the network alone, no tile overlap) | "
                             f"{v:.3f} | {io_ / v:.1f}x |")
    th = results.get("threads")
    if th:
        lines += ["", "## Threads (default preset, training steps/s)", "", "| CPU | 1 thread | 2 threads |",
                  "|---|---|---|"]
        for state in ("quiet", "busy"):
            lines.append(f"| {state} | {th[f'{state}_1_threads_steps_s']:.1f} | {th[f'{state}_2_threads_steps_s']:.1f} |")
    m = results.get("memory")
    if m:
        lines += ["", "## Peak memory, stylizing one frame (default tile: 1024 fast, 768 reference; whole process, "
                  "torch included)", "",
                  "| preset | 1920x1080 | 3840x2160 |", "|---|---|---|"]
        for preset in ("fast", "reference"):
            lines.append(f"| {preset} | {m[f'peak_rss_mb_{preset}_1920x1080']:.0f} MB | "
                         f"{m[f'peak_rss_mb_{preset}_3840x2160']:.0f} MB |")
    g = results.get("guides")
    if g:
        ref = (s or {}).get("infer_reference_auto_s_per_mp")
        lines += ["", f"## Guides: seconds per frame (1 thread; default guides: {', '.join(g['default'])})", "",
                  "| size | flow preset | flow | gauss | edges | denoise | warp | default guides + flow | "
                  "stylize (fast) | default guides / stylize (fast) | / stylize (reference, from the speed table) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in g["rows"]:
            w, h = map(int, r["size"].split("x"))
            vs_ref = f"{r['default_guides_s'] / (ref * w * h / 1e6):.2f}" if ref else "not measured"
            lines.append(f"| {r['size']} | {r['flow_preset']} | {r['flow_s']:.3f} | {r['gauss_s']:.3f} | {r['edges_s']:.3f} | "
                         f"{r['denoise_s']:.3f} | {r['warp_s']:.3f} | {r['default_guides_s']:.3f} | "
                         f"{r['stylize_s']:.3f} | {r['default_guides_s'] / r['stylize_s']:.2f} | {vs_ref} |")
    q = results.get("quality")
    if q:
        lines += ["", f"## Quality on non-key frames (3 keyframes; budget: the steps this CPU does in "
                  f"{q['budget_s']:.0f} s at 1 thread, calibrated in this run)", "",
                  "PSNR dB / SSIM against the ground truth on the frames that are not keyframes; instability: mean "
                  "colour change along the input's optical flow between consecutive frames (lower is steadier), "
                  "as a ratio to the ground truth's own.", ""]
        flow = results.get("guides", {}).get("default_flow_preset", "balanced")
        for b in q["baselines"]:
            ti = b["truth_instability"]
            lines += [f"### {b['clip']}", "", "| method | guides | steps | PSNR | SSIM | vs LUT | instability vs truth |",
                      "|---|---|---|---|---|---|---|",
                      f"| input as output | | | {b['identity_psnr']:.2f} | {b['identity_ssim']:.3f} | | "
                      f"{b['input_instability'] / ti:.2f}x |",
                      f"| colour lookup table (\"basic colorization\") | | | {b['lut_psnr']:.2f} | {b['lut_ssim']:.3f} | | "
                      f"{b['lut_instability'] / ti:.2f}x |"]
            for r in q["runs"]:
                if r["clip"] != b["clip"]:
                    continue
                label = f"{r['preset']} ({r['label']})"
                guides = r["guides"] + ("" if r.get("flow_preset", flow) == flow or r["guides"] == "rgb"
                                        else f" (flow {r['flow_preset']})")
                lines.append(f"| {label} | {guides} | {r['steps']} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                             f"{r['psnr'] - b['lut_psnr']:+.2f} dB / {r['ssim'] - b['lut_ssim']:+.3f} | "
                             f"{r['instability'] / ti:.2f}x |")
            lines.append("")
        bf = [r for r in q["runs"] if "bf16_vs_fp32_psnr" in r]
        if bf:
            lines += ["bf16 vs fp32 inference of the same (default) model: " + "; ".join(
                f"{r['clip'][:12]}: outputs {r['bf16_vs_fp32_psnr']:.1f} dB apart, SSIM vs truth "
                f"{r['ssim']:.4f} (bf16) / {r['fp32_infer_ssim']:.4f} (fp32)" for r in bf), ""]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="speed,threads,memory,guides,quality")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-long", action="store_true", help="skip the 10x-budget quality runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the speed section")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="measure nothing: merge the sections of these "
                        "result files (benchmarks/results/*.json; later files win) into benchmarks/BENCH_TABLES.md")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge)
    torch.set_num_threads(args.threads)
    results = {"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                          f"{cpu_name()}, no GPU"}
    for name in args.only.split(","):
        start = time.time()
        if name == "speed":
            results["speed"] = section_speed(args.quick)
        elif name == "threads":
            results["threads"] = section_threads(args.quick)
        elif name == "memory":
            results["memory"] = section_memory(args.quick)
        elif name == "guides":
            results["guides"] = section_guides(args.quick)
        elif name == "quality":
            results["quality"] = section_quality(args.quick, not args.no_long)
        print(f"[{name}: {time.time() - start:.0f} s]", file=sys.stderr, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    text = report(results)
    if not args.quick:
        TABLES.write_text(text)
    print(text)
    return 0


def merge(paths: list[str]) -> int:
    """BENCH_TABLES.md from sections measured in separate runs (quality in the background, speed on a quiet CPU)."""
    merged: dict = {}
    for path in paths:
        part = json.loads(Path(path).read_text())
        if merged and part["machine"] != merged["machine"]:
            print(f"--merge: {path} was measured on {part['machine']}, not {merged['machine']}", file=sys.stderr)
            return 2
        merged = {**merged, **part, "date": max(merged.get("date", ""), part["date"])}
    text = report(merged)
    TABLES.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
