"""Command line: `python -m patch_training train | stylize | info`. Progress on stderr, results on stdout."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import __version__
from .checkpoint import load_model, read_metadata, save_model
from .config import PRESETS, LOSS_PRESETS, TrainConfig
from .errors import OutputExistsError, PatchToonError
from .frames_io import FrameSource, images_by_stem, to_tensor, to_uint8
from .inference import DEFAULT_TILE, model_inputs, stylize_chunks
from .keyframes import make_keyframes
from .guides import DEFAULT_GUIDES, GuideSpec, parse_guides
from .pipeline import describe_shots, fit_style, guide_spec_of, model_guides, stylize_needs
from .trainer import TrainProgress


class ProgressBar:
    """A one-line progress bar on stderr: percent, counts, rate and ETA."""

    def __init__(self, label: str, stream=None):
        self.label, self.stream = label, stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.last = 0.0

    def show(self, fraction: float, detail: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        filled = int(24 * min(max(fraction, 0.0), 1.0))
        line = f"{self.label} {100 * fraction:5.1f}% |{'#' * filled}{'.' * (24 - filled)}| {detail}"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _eta(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def cmd_train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise PatchToonError(f"--out: expected a file name ending in .safetensors, received {out.name!r}.")
    if out.exists() and not args.overwrite:
        raise OutputExistsError(f"--out: {out} already exists; it is never replaced silently. Choose another "
                                f"name, or add --overwrite to replace it.")
    spec = GuideSpec(guides=parse_guides(args.guides), seed=args.seed)
    source = FrameSource(args.frames, "--frames")
    frames = source.read_all()
    keyframes, notes = _read_keyframes(source, frames, args.keyframes, args.masks)
    steps = args.steps or 0
    seconds = args.seconds if args.seconds is not None else (0.0 if steps else 120.0)
    config = TrainConfig(preset=args.preset, loss=args.loss, steps=steps, seconds=seconds, seed=args.seed,
                         device=args.device, precision=args.precision, threads=args.threads, vgg_path=args.vgg or "")
    config.validate()
    print(f"frames: {len(frames)} ({source.size[1]}x{source.size[0]}), keyframes: "
          f"{[source.names[i] for i in keyframes.indices]}, guides: {spec.describe()}", file=sys.stderr)
    for note in notes + describe_shots(frames, keyframes.indices, spec if spec.guides else None):
        print(f"note: {note}", file=sys.stderr)
    bar = ProgressBar("train")

    def report(p: TrainProgress) -> None:
        total = p.losses.get("total", float("nan"))
        bar.show(p.fraction, f"step {p.step}  loss {total:.4f}  {p.steps_per_s:.1f} steps/s  ETA {_eta(p.eta_s)}",
                 force=p.done)

    model = fit_style(frames, keyframes, config, spec if spec.guides else None, on_progress=report)
    bar.close()
    save_model(model, out, overwrite=args.overwrite)
    s = model.summary
    print(json.dumps({"model": str(out), "steps": s["steps"], "seconds": s["seconds"], "preset": s["preset"],
                      "guides": spec.describe(), "final_losses": s["final_losses"]}))
    return 0


def _read_keyframes(source: FrameSource, frames: torch.Tensor, keyframe_dir: str, mask_dir: str | None):
    """Keyframes (and masks) named like the frames -> make_keyframes(...) result."""
    stems = source.stems
    styled = images_by_stem(keyframe_dir, stems, source.size, "keyframes")
    indices = [stems.index(s) for s in styled]
    masks = None
    if mask_dir:
        found = images_by_stem(mask_dir, stems, source.size, "masks")
        missing = sorted(set(styled) - set(found))
        if missing:
            raise PatchToonError(f"--masks: expected one mask per keyframe, no mask for {missing}. Add "
                                 f"{missing[0]}.png (white = valid style) or leave out --masks.")
        masks = torch.stack([torch.from_numpy(found[s][..., 0].astype(np.float32) / 255) for s in styled])
    return make_keyframes(indices, to_tensor(list(styled.values())), masks, frames=frames)


def cmd_stylize(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out: {out} exists and is not a folder. Give a folder for the stylized frames.")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise OutputExistsError(f"--out: the folder {out} is not empty; its files are never replaced silently. "
                                f"Choose a new folder, or add --overwrite to replace files of the same names.")
    model = load_model(args.model)
    source = FrameSource(args.frames, "--frames")
    chunks = source.chunks(max(args.batch, 1) * 4)
    if guide_spec_of(model) is not None:
        # Guides follow the clip (optical flow from the keyframes): they need the whole clip at once.
        frames = source.read_all()
        keyframes = None
        if args.keyframes:
            keyframes, _ = _read_keyframes(source, frames, args.keyframes, args.masks)
            if list(keyframes.indices) != list(model.summary.get("keyframe_indices", [])):
                raise PatchToonError(f"--keyframes: the model was trained with keyframes at frames "
                                     f"{model.summary.get('keyframe_indices')}, these are at {list(keyframes.indices)}.")
        elif args.masks:
            raise PatchToonError("--masks: give --keyframes with the masks (they are matched by name).")
        guides = model_guides(model, frames, None if keyframes is None else keyframes.images,
                              None if keyframes is None else keyframes.masks)
        step = max(args.batch, 1) * 4
        chunks = ((source.names[i:i + step], frames[i:i + step], guides[i:i + step]) for i in range(0, len(frames), step))
    else:
        chunks = ((names, part, None) for names, part in chunks)
    # Write into a hidden folder beside --out and move files into place at the end: an error or Ctrl-C
    # half-way leaves no partial results behind.
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    bar = ProgressBar("stylize")
    done, start = 0, time.monotonic()
    try:
        for names, part, part_guides in chunks:
            x = model_inputs(model, part, part_guides)
            for first, styled in stylize_chunks(model, x, args.batch, args.tile, args.device, args.precision):
                for name, image in zip(names[first:first + len(styled)], to_uint8(styled)):
                    Image.fromarray(image).save(staging / name)
            done += len(names)
            rate = done / max(time.monotonic() - start, 1e-9)
            bar.show(done / max(len(source), done), f"{done}/{len(source)} frames  {rate:.2f} frames/s  "
                     f"ETA {_eta(max(len(source) - done, 0) / rate)}")
        bar.show(1.0, f"{done}/{done} frames", force=True)
        bar.close()
        out.mkdir(exist_ok=True)
        for path in sorted(staging.iterdir()):
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(json.dumps({"out": str(out), "frames": done, "seconds": round(time.monotonic() - start, 3)}))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    meta = read_metadata(args.model)
    model = load_model(args.model)  # validates shapes as well
    stored = {} if model.guide_masks is None else {"guide_masks": list(model.guide_masks.shape)}
    print(json.dumps({"stylize_needs": stylize_needs(model), **meta, **stored}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    # The same CLI as the `patch-toon` command (pip install) and as `python -m patch_training`.
    prog = "patch-toon" if Path(sys.argv[0]).name == "patch-toon" else "python -m patch_training"
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Few-shot patch-based video stylization (Texler et al. 2020).")
    parser.add_argument("--version", action="version", version=f"patch_training {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="learn a style from stylized keyframes")
    train.add_argument("--frames", required=True, help="folder of frames (PNG/JPG/WEBP, name order) or a video file")
    train.add_argument("--keyframes", required=True, help="folder of stylized keyframes named like their frames")
    train.add_argument("--masks", help="folder of masks named like the keyframes (white = valid style)")
    train.add_argument("--out", required=True, help="model file to write (.safetensors)")
    budget = train.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="train for this many steps")
    budget.add_argument("--seconds", type=float, help="train for this many seconds (default 120)")
    train.add_argument("--preset", default="fast", choices=sorted(PRESETS), help="network size (default fast)")
    train.add_argument("--guides", default=",".join(("rgb",) + DEFAULT_GUIDES),
                       help="input channels: rgb plus any of gauss,edges,denoise,warp (default %(default)s); "
                            "'rgb' alone: the frames only, any frame size at stylization")
    train.add_argument("--loss", default="auto", choices=["auto", *sorted(LOSS_PRESETS)],
                       help="loss terms (auto: paper for reference, structure otherwise)")
    train.add_argument("--vgg", help="VGG19 weights file for the paper's perceptual loss (optional)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=0, help="CPU threads (0: library default)")
    train.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    train.set_defaults(run=cmd_train)

    styl = sub.add_parser("stylize", help="stylize every frame with a trained model")
    styl.add_argument("--model", required=True, help="model file (.safetensors) from train")
    styl.add_argument("--frames", required=True, help="folder of frames or a video file")
    styl.add_argument("--out", required=True, help="folder for the stylized frames (same file names)")
    styl.add_argument("--keyframes", help="the stylized keyframes (models using the 'warp' guide)")
    styl.add_argument("--masks", help="the keyframes' masks (only models of checkpoint format 1 trained with "
                                      "masks and guides: newer models store them)")
    styl.add_argument("--batch", type=int, default=4, help="frames per forward pass")
    styl.add_argument("--tile", type=int, default=DEFAULT_TILE,
                      help="tile size in pixels, bounds memory (0: by model, 1024 or 768)")
    styl.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    styl.set_defaults(run=cmd_stylize)

    for p in (train, styl):
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])

    info = sub.add_parser("info", help="print a model file's metadata")
    info.add_argument("model")
    info.set_defaults(run=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except PatchToonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
