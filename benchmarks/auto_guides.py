"""Guides chosen automatically (issue 24 item 1): what `guides: auto` picks on each clip, whether it is the best of
the explicit choices, and the quality it gives against the old default (gauss, edges) and the best explicit choice.

    taskset -c 1 .venv/bin/python -m benchmarks.auto_guides --seeds 0,1 --budget 30          # what README quotes
    taskset -c 1 .venv/bin/python -m benchmarks.auto_guides --seeds 0,1,2 --budget 120 --warp # the full version
    .venv/bin/python -m benchmarks.auto_guides --report                                      # tables only
    .venv/bin/python -m benchmarks.auto_guides --choices                                     # the choices only

Clips: benchmarks/styles.py's footage (the bundled sample's frames and the paper-craft pair's astronaut footage, 30
frames at 256x256) in its filter styles: hatching (fixed on the page), paper (watercolour on a page-fixed paper),
painterly and pencil (follow the content); and the two real restyles of benchmarks/clips.py (the sample as comic
ink, the astronaut as paper craft), 30 frames at 256x256. Keyframes 0, 15, 29; scores on the other frames.
Never the held-out footage README's first table comes from.

Explicit choices trained: the old default guides (gauss, edges: the shipped prior's), + page (its own prior since
fast-gauss-edges-page shipped; with --random-page also from random weights, as before it), and with --warp +
warp; today's training defaults otherwise (fast, lr 2e-3, small patches first, prior auto: the shipped prior where
it fits the guides, random weights for the others), budgets in steps at benchmarks/styles.py's calibrated rates (one
core), the same step count for every choice: the default guides' (the page guide's 3 more input channels cost
about 5 % of the steps/s, benchmarks/RESULTS.md Style classes, inside the calibration's noise on a shared machine;
a calibration per choice under load gave one choice half the steps of another). auto trains exactly the explicit choice it picks (the same guides, seed and steps give the same weights on
the CPU), so its score is that choice's row: it is not trained twice. Rows: benchmarks/results/auto-guides-rows.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import REPO, RESULTS, cpu_name
from benchmarks.styles import Case, Variant, budget_steps, load_footage, rates_for, run_variant
from patch_training.guides.auto import choose_guides

ROWS = RESULTS / "auto-guides-rows.jsonl"
FILTERS = ("hatching", "paper", "painterly", "pencil")
PAGE_KINDS = ("hatching", "paper")
RESTYLES = {"sample": "api_grok_video_edit", "astronaut": "api_google_gemini_omni_flash_video_edit"}
# Template pairs whose second side replaces content of the first (a costume, the background, a person, a surfer by
# a skater), the same motion: restyles where copying keyframe content along the motion might pay. Only with
# --clips naming them. Their footage (one side each of kling, capybara, the dancer and vace) is among the
# template clips the shipped priors were trained on, with random filter styles, never these restyles.
REPLACING = {"kling": "api_kling_o3_video_edit", "luma": "api_luma_ray3_2_video_edit",
             "runway": "api_runway_aleph2_video_edit", "capybara": "video_capybara_v0_1_video_edit",
             "dancer": "video_wan21_scail2_character_replacement", "vace": "video_wan_vace_14B_v2v"}
TRAIN = {"base": "auto", "patch_size": 0}  # today's defaults (cost_key and the small-patch schedule read these)
RANDOM_PAGE = "gauss,edges,page, random start"
RANDOM_DEFAULT = "gauss,edges, random start"
CHOICES = {"gauss,edges": Variant("gauss,edges", "rgb,gauss,edges", TRAIN),
           "gauss,edges,page": Variant("gauss,edges,page", "rgb,gauss,edges,page", TRAIN),
           "gauss,edges,warp": Variant("gauss,edges,warp", "rgb,gauss,edges,warp", TRAIN),
           # the page choice as it was before it had a prior of its own (fast-gauss-edges-page)
           RANDOM_PAGE: Variant(RANDOM_PAGE, "rgb,gauss,edges,page", {**TRAIN, "prior": "none"}),
           RANDOM_DEFAULT: Variant(RANDOM_DEFAULT, "rgb,gauss,edges", {**TRAIN, "prior": "none"})}
RANDOM_STARTS = (RANDOM_PAGE, RANDOM_DEFAULT)
OLD_DEFAULT = "gauss,edges"


def restyle(clip: str, frames: int = 30, size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    from benchmarks.clips import load_pair
    pair = load_pair({**RESTYLES, **REPLACING}[clip], max_frames=frames)
    small = [F.interpolate(x.permute(0, 3, 1, 2), size=(size, size), mode="area").permute(0, 2, 3, 1).clamp(0, 1)
             .contiguous() for x in pair]
    return small[0], small[1]


def cases(quick: bool, clips: list[str]):
    """(clip, style, Case) for every clip and style; a restyle's Case has the pair's stylized side as truth."""
    n, size = (8, 96) if quick else (30, 256)
    from patch_training import compute_flow
    for clip in clips:
        if clip in REPLACING:
            yield clip, "restyle", restyle_case(clip, n, size)
            continue
        if clip not in RESTYLES:
            raise SystemExit(f"--clips: expected names of {sorted(RESTYLES) + sorted(REPLACING)}, received {clip!r}")
        frames = load_footage(clip, n, size)
        motion = compute_flow(frames, "balanced", 1)
        for style in FILTERS:
            yield clip, style, Case(clip, style, frames, motion)
        yield clip, "restyle", restyle_case(clip, n, size)


def restyle_case(clip: str, frames: int, size: int) -> Case:
    """A template pair as a Case: its footage, and its other side as the truth."""
    from patch_training import compute_flow, temporal_instability
    footage, truth = restyle(clip, frames, size)
    case = Case(clip, "hatching", footage, compute_flow(footage, "balanced", 1))  # style replaced below
    case.style, case.truth = "restyle", truth
    case.truth_instability = temporal_instability(truth, case.motion)
    return case


def choice_of(case: Case) -> dict:
    keys = case.keys
    began = time.perf_counter()
    choice = choose_guides(case.frames[keys], case.truth[keys])
    wall = time.perf_counter() - began
    return {**choice.to_dict(), "wall_s": wall, "departure": departure(case.frames[keys], case.truth[keys])}


def departure(frames: torch.Tensor, styled: torch.Tensor) -> dict:
    """How far keyframes depart from their frames (diagnostics, not used by auto): the correlation of their
    structure maps (frames.registration's) and of their luma, mean over keyframes."""
    import numpy as np
    from patch_training.frames.registration import _ncc, _structure
    f, s = frames.numpy(), styled.numpy()
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    structure = [_ncc(_structure(a, 256), _structure(b, 256), np.ones(_structure(a, 256).shape, bool))
                 for a, b in zip(f, s)]
    luma = [float(np.corrcoef((a @ weights).ravel(), (b @ weights).ravel())[0, 1]) for a, b in zip(f, s)]
    return {"structure": round(float(np.mean(structure)), 3), "luma": round(float(np.mean(luma)), 3)}


def platinum_choices() -> list[str]:
    """auto's choice on seed_platinum's seven keyframes (the project's shared data: $PATCH_TOON_DATA, by default
    the folder shared/data beside the repository; a 3D-rendered dancer restyled as a 2D illustration, with masks;
    no sequence, so nothing is trained here), without and with the masks. Empty where that data is absent."""
    import numpy as np
    from PIL import Image
    root = Path(os.environ.get("PATCH_TOON_DATA", REPO.parent / "shared" / "data")) / "seed_platinum"
    if not root.exists():
        return []
    names = sorted(p.stem for p in (root / "input").glob("*.png"))
    load = lambda d, n, ext: np.asarray(Image.open(root / d / f"{n}.{ext}").convert("RGB"), np.float32) / 255  # noqa
    x = torch.from_numpy(np.stack([load("input", n, "png") for n in names]))
    s = torch.from_numpy(np.stack([load("output", n, "png") for n in names]))
    m = torch.from_numpy(np.stack([load("mask", n, "jpg")[..., 0] for n in names]))
    return [f"seed_platinum ({len(names)} keyframes{', masks' if masks is not None else ''}): "
            f"{choose_guides(x, s, masks).describe()}" for masks in (None, m)]


def load_rows(path: Path = ROWS) -> dict[tuple, dict]:
    rows = {}
    if path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            rows[(r["clip"], r["style"], r["choice"], r["seed"], r["budget_s"])] = r
    return rows


def report(rows: dict[tuple, dict], choices: dict[tuple, dict]) -> str:
    """Per clip and style: auto's choice, its statistics, and mean PSNR / SSIM over seeds of each explicit choice."""
    budgets = sorted({k[4] for k in rows})
    lines = []
    for budget in budgets:
        lines += [f"Budget {budget:g} s (steps at the calibrated one-core rate), mean over seeds:", "",
                  "| clip | style | auto chose (static / moving residual correlation) | old default gauss,edges | "
                  "old default, random start | + page | + page, random start | + warp | auto | best explicit | "
                  "auto - old default |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for (clip, style), c in choices.items():
            means = {}
            for name in CHOICES:
                got = [r for k, r in rows.items() if k[:3] == (clip, style, name) and k[4] == budget]
                if got:
                    means[name] = (sum(r["psnr"] for r in got) / len(got), sum(r["ssim"] for r in got) / len(got),
                                   len(got))
            if not means:
                continue
            chose = ",".join(c["guides"])
            cell = lambda n: f"{means[n][0]:.2f} / {means[n][1]:.3f} ({means[n][2]})" if n in means else ""  # noqa
            best = max((n for n in means if n not in RANDOM_STARTS), key=lambda n: means[n][1])
            gap = (f"{means[chose][0] - means[OLD_DEFAULT][0]:+.2f} dB / {means[chose][1] - means[OLD_DEFAULT][1]:+.3f}"
                   if chose in means and OLD_DEFAULT in means else "")
            stats = c["stats"]
            lines.append(f"| {clip} | {style} | {chose} ({stats.get('static', '-')} / {stats.get('moving', '-')}, "
                         f"{c['wall_s'] * 1000:.0f} ms) | {cell(OLD_DEFAULT)} | {cell(RANDOM_DEFAULT)} | {cell('gauss,edges,page')} | {cell(RANDOM_PAGE)} | "
                         f"{cell('gauss,edges,warp')} | {cell(chose)} | {best}{' (= auto)' if best == chose else ''} | "
                         f"{gap} |")
        lines.append("")
    return "\n".join(lines)


def trained_choices(args, names: list[str], page: bool) -> list[str]:
    """The explicit choices trained on a clip: `names` (--only-page: + page alone, where auto chose it), then the
    random-start twins asked for (--random: of each; --random-page / --only-page: of + page, where auto chose it)."""
    trained = (["gauss,edges,page"] if page else []) if args.only_page else list(names)
    twins = {OLD_DEFAULT: RANDOM_DEFAULT, "gauss,edges,page": RANDOM_PAGE}
    if args.random:
        return trained + [twins[n] for n in trained if n in twins]
    return trained + ([RANDOM_PAGE] if (args.random_page or args.only_page) and page else [])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds of one core per training")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--styles", default=",".join(FILTERS + ("restyle",)))
    parser.add_argument("--clips", default="sample,astronaut")
    parser.add_argument("--warp", action="store_true", help="also train the + warp choice")
    parser.add_argument("--skip-page", action="store_true", help="do not train the + page choice")
    parser.add_argument("--only-page", action="store_true", help="train only + page with and without its prior, "
                        "where auto chooses the page guide")
    parser.add_argument("--random-page", action="store_true", help="also train + page from random weights (as "
                        "before the page prior) where auto chooses the page guide")
    parser.add_argument("--random", action="store_true", help="also train every choice from random weights "
                        "(prior none): what its shipped prior gives")
    parser.add_argument("--choices", action="store_true", help="only print what auto chooses on each clip")
    parser.add_argument("--report", action="store_true", help="train nothing: print the table from the rows")
    parser.add_argument("--preset", default="fast", help="the network (rows of another than fast: "
                        "auto-guides-rows-<preset>.jsonl; budgets at that network's calibrated rate)")
    parser.add_argument("--quick", action="store_true", help="tiny clips and budgets, nothing stored")
    args = parser.parse_args()
    rows_file = ROWS if args.preset == "fast" else ROWS.with_name(f"auto-guides-rows-{args.preset}.jsonl")
    network = {} if args.preset == "fast" else {"preset": args.preset}
    budget_variant = Variant(OLD_DEFAULT, CHOICES[OLD_DEFAULT].guides, {**TRAIN, **network})
    torch.set_num_threads(1)
    names = [OLD_DEFAULT] + ([] if args.skip_page else ["gauss,edges,page"]) + (["gauss,edges,warp"] if args.warp
                                                                                  else [])
    rates = {} if args.choices or args.report else rates_for([budget_variant], args.quick)
    print(f"[{time.strftime('%Y-%m-%d %H:%M:%S')} {cpu_name()}, rates {rates}]", file=sys.stderr, flush=True)
    done, choices = ({} if args.quick else load_rows(rows_file)), {}
    for clip, style, case in cases(args.quick, args.clips.split(",")):
        if style not in args.styles.split(","):
            continue
        choices[(clip, style)] = c = choice_of(case)
        print(f"{clip} {style}: {','.join(c['guides'])} {c['stats']} ({c['wall_s'] * 1000:.0f} ms) {c['departure']}",
              file=sys.stderr, flush=True)
        if args.choices or args.report:
            continue
        for seed in [int(s) for s in args.seeds.split(",")]:
            trained = trained_choices(args, names, "page" in c["guides"])
            for name in trained:
                if (clip, style, name, seed, args.budget) in done and not args.quick:
                    continue
                v = CHOICES[name]
                v = Variant(v.label, v.guides, {**v.train, **network, "seed": seed})
                steps = budget_steps(budget_variant, 0.5 if args.quick else args.budget, rates)
                row, _ = run_variant(case, v, steps)
                row = {"clip": clip, "style": style, "choice": name, "seed": seed, "budget_s": args.budget,
                       "preset": args.preset,
                       "auto": ",".join(c["guides"]), **row}
                print(json.dumps(row), flush=True)
                if not args.quick:
                    rows_file.parent.mkdir(parents=True, exist_ok=True)
                    with rows_file.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                done[(clip, style, name, seed, args.budget)] = row
    if args.choices:
        print("\n".join(platinum_choices()), file=sys.stderr)
    else:
        print(report(done, choices))
    return 0


if __name__ == "__main__":
    sys.exit(main())
