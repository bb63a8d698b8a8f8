"""Command line: `python -m patch_training train | stylize | live | guides | suggest | sheet | batch | info`.
Progress on stderr, results on stdout."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from . import __version__
from .config import DEFAULT_TILE, DEVICE_HELP, DEVICES, PRECISIONS, StylizeOptions
from .errors import OutputExistsError, PatchToonError
from .cli_keyframes import guides_command, live_command, sheet_command
from .frames.sources import FrameSource
from .guides import GuideSpec
from .frames.suggest import check_count, suggest_keyframes
from .frames.writers import VIDEO_CODECS, is_video_path
from .model.checkpoint import load_model, read_metadata, save_model
from .pipeline.render_record import read_record
from .pipeline.stylize_files import output_writer, stylize_files, update_files
from .pipeline.train_files import TrainOptions, align_of, read_keyframes, train_from_files
from .stylize.needs import scale_note, stylize_needs
from .train.progress import TrainProgress
from .train.warm_start import weights_sha256


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
    options = TrainOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainOptions)})
    bar, reading = ProgressBar("train"), ProgressBar("guides" if options.spec().guides else "reading")

    def read(done: int, total: int) -> None:  # the pass over the clip before training
        rate = done / max(time.monotonic() - began, 1e-9)
        reading.show(done / total, f"{done}/{total} frames  {rate:.2f} frames/s  "
                     f"ETA {_eta(max(total - done, 0) / rate)}", force=done == total)
        if done == total:
            reading.close()

    def report(p: TrainProgress) -> None:
        total = p.losses.get("total", float("nan"))
        bar.show(p.fraction, f"step {p.step}  loss {total:.4f}  {p.steps_per_s:.1f} steps/s  ETA {_eta(p.eta_s)}",
                 force=p.done)

    def log(line: str) -> None:
        if bar.last:  # a line after training: the bar's line ends first
            bar.close()
            bar.last = 0.0
        print(line, file=sys.stderr)

    began = time.monotonic()
    init = load_model(args.init) if args.init else None
    model = train_from_files(args.frames, args.keyframes, args.masks, options, on_progress=report, log=log,
                             scratch=args.scratch, on_frames=read, init=init)
    if bar.last:
        bar.close()
    save_model(model, out, overwrite=args.overwrite)
    s = model.summary.to_dict()
    print(json.dumps({"model": str(out), "steps": s["steps"], "seconds": s["seconds"], "preset": s["preset"],
                      "guides": GuideSpec.from_dict(model.guides).describe() if model.guides else "rgb",
                      **({"guides_auto": s["guides_auto"]} if "guides_auto" in s else {}),
                      "final_losses": s["final_losses"],
                      **({"warm_start": s["warm_start"]} if "warm_start" in s else {}),
                      **({"prior": s["prior"]} if s.get("prior") else {})}))
    return 0


def cmd_stylize(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    source = FrameSource(args.frames, "--frames")
    options = StylizeOptions(args.batch, args.tile, args.device, args.precision)
    keyframes = None
    if args.keyframes:
        keyframes, _ = read_keyframes(source, args.keyframes, args.masks, align=align_of(model))
        if list(keyframes.indices) != list(model.summary.keyframe_indices or []):
            raise PatchToonError(f"--keyframes: the model was trained with keyframes at frames "
                                 f"{model.summary.keyframe_indices}, these are at {list(keyframes.indices)}.")
    elif args.masks:
        raise PatchToonError("--masks: give --keyframes with the masks (they are matched by name).")
    if args.update and is_video_path(args.update):
        raise PatchToonError(f"--update: expected a folder of stylized frames from an earlier stylize, received the "
                             f"video file {args.update} (a video's frames cannot be kept exactly). Stylize into a "
                             f"folder (--out FOLDER), then --update FOLDER.")
    if args.update:
        read_record(args.update)  # refuses before anything is read when there is no readable record
    # Frames go to a hidden staging place beside --out and are moved into place at the end: an error or
    # Ctrl-C half-way leaves no partial results behind (frames.writers.FrameWriter).
    writer = output_writer(args.update or args.out, source, args.fps, overwrite=args.overwrite or bool(args.update),
                           what="--update" if args.update else "--out")
    for path in writer.removed:
        print(f"note: removed {path}, left by an interrupted run", file=sys.stderr)
    note = scale_note(model, source.size)
    if note:
        print(f"note: {note}", file=sys.stderr)
    bar = ProgressBar("stylize")
    total, start = len(source), time.monotonic()

    def report(done: int, _total: int) -> None:
        rate = done / max(time.monotonic() - start, 1e-9)
        bar.show(done / max(total, done), f"{done}/{total} frames  {rate:.2f} frames/s  "
                 f"ETA {_eta(max(total - done, 0) / rate)}")

    if args.update:
        summary = update_files(model, source, args.update, [writer], options, keyframes, scratch=args.scratch,
                               on_progress=report)
        done, extra = summary.frames, {"rendered": summary.rendered, "reason": summary.reason}
    else:
        done, extra = stylize_files(model, source, [writer], options, keyframes, scratch=args.scratch,
                                    on_progress=report, record=True), {}
    bar.show(1.0, f"{done}/{done} frames", force=True)
    bar.close()
    for note in writer.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.update:
        print(summary.message(), file=sys.stderr)
    print(json.dumps({"out": str(writer.out), "frames": done, **extra,
                      "seconds": round(time.monotonic() - start, 3)}))
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    check_count(args.count)  # before reading a frame
    source = FrameSource(args.frames, "--frames")
    total = len(source)  # a video's container may only estimate it: progress only
    bar = ProgressBar("suggest")

    def report(done: int, _total: int | None) -> None:
        bar.show(done / max(total, done), f"{done}/{total} frames")

    result = suggest_keyframes((image for _, image in source.images()), args.count, args.have or "",
                               on_progress=report, frame_count=total)
    if bar.last:
        bar.close()
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps(result.as_dict()))
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from .batch.local import LocalExecutor
    from .batch.run import run_batch
    from .batch.manifest import read_manifest

    shots = read_manifest(args.manifest)
    if args.segment_frames < 0:
        raise PatchToonError(f"--segment-frames: expected 0 (automatic) or more, received {args.segment_frames}.")
    if args.ray:
        from .batch.cluster import RayExecutor  # the only module that imports Ray

        executor = RayExecutor(args.ray, args.workers, args.node_ip)
    else:
        executor = LocalExecutor(args.workers)
    bar = ProgressBar("batch")

    def report(p) -> None:
        if p.finished is not None:
            state = p.finished
            if bar.tty and bar.last:
                bar.stream.write("\n")
            detail = state.errors[0] if state.errors else (f"{state.written} frames written, {state.skipped} "
                                                           f"already there, model {state.model}")
            print(f"shot {state.shot.name}: {state.status}: {detail}", file=sys.stderr)
        # Half for shots closed, half for frames stylized (of the shots planned so far).
        fraction = 0.5 * p.shots_finished / p.shots + 0.5 * p.frames_finished / max(p.frames_known, 1)
        eta = (p.frames_known - p.frames_finished) / p.frames_per_s if p.frames_per_s > 0 else 0.0
        bar.show(fraction, f"shots {p.shots_finished}/{p.shots}  frames {p.frames_finished}/{p.frames_known}  "
                 f"{p.frames_per_s:.2f} frames/s  ETA {_eta(eta)}", force=p.finished is not None)

    with _stdout_to_stderr():  # Ray prints on stdout (retries, lost workers); stdout is the summary's alone
        summary = run_batch(shots, executor, executor.workers, args.segment_frames, report, args.pid_folder)
    bar.close()
    print(json.dumps(summary))
    return 1 if summary["failed"] else 0


@contextlib.contextmanager
def _stdout_to_stderr():
    """File descriptor 1 goes to stderr for a while (Python's prints and those of libraries' threads alike)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def cmd_info(args: argparse.Namespace) -> int:
    meta = read_metadata(args.model)
    model = load_model(args.model)  # validates shapes as well
    stored = {} if model.guide_masks is None else {"guide_masks": list(model.guide_masks.shape)}
    print(json.dumps({"stylize_needs": stylize_needs(model), **meta, **stored,
                      "weights_sha256": weights_sha256(model)}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    # The same CLI as the `patch-toon` command (pip install) and as `python -m patch_training`.
    prog = "patch-toon" if Path(sys.argv[0]).name == "patch-toon" else "python -m patch_training"
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Few-shot patch-based video stylization (Texler et al. 2020).")
    parser.add_argument("--version", action="version", version=f"patch_training {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_train_command, _stylize_command, live_command, guides_command, _suggest_command, sheet_command,
                _batch_command, _info_command):
        add(sub)
    return parser


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """The options of TrainOptions, as --name (--patch-size for patch_size), with its defaults and help."""
    budget = parser.add_mutually_exclusive_group()
    for option in dataclasses.fields(TrainOptions):
        argument = dict(option.metadata)
        where = budget if argument.pop("budget", False) else parser
        kind = argument.pop("type", type(option.default))
        where.add_argument("--" + option.name.replace("_", "-"), default=option.default, type=kind, **argument)


def _train_command(sub) -> None:
    train = sub.add_parser("train", help="learn a style from stylized keyframes")
    train.add_argument("--frames", required=True, help="folder of frames (PNG/JPG/WEBP, name order) or a video file")
    train.add_argument("--keyframes", required=True, help="folder of stylized keyframes named like their frames")
    train.add_argument("--masks", help="folder of masks named like the keyframes (white = valid style)")
    train.add_argument("--out", required=True, help="model file to write (.safetensors)")
    add_train_options(train)
    train.add_argument("--init", metavar="MODEL", help="continue training this model (.safetensors) instead of "
                       "starting from random weights (warm start): same preset and guides; after a keyframe "
                       "changed, a fraction of the budget reaches a fresh run's quality")
    train.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    train.add_argument("--scratch", help="folder for guide data that waits for the next keyframe beyond 256 MB of "
                       "RAM (default: the system's temporary folder)")
    train.set_defaults(run=cmd_train)


def _stylize_command(sub) -> None:
    styl = sub.add_parser("stylize", help="stylize every frame with a trained model")
    styl.add_argument("--model", required=True, help="model file (.safetensors) from train")
    styl.add_argument("--frames", required=True, help="folder of frames or a video file")
    where = styl.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="folder for the stylized frames (PNG, named like the frames, with a render "
                       f"record for --update), or a video file ({', '.join(VIDEO_CODECS)}: H.264 with the source's "
                       "audio where PyAV is installed, else OpenCV's mp4v)")
    where.add_argument("--update", metavar="OUT", help="a folder of an earlier stylize --out: re-render only the "
                       "frames whose output can change (after a keyframe edit: the frames its guides reach; a new "
                       "model: all), keep the others, and say how many and why; the result equals a full render")
    styl.add_argument("--fps", type=float, default=0.0,
                      help="frame rate of a video --out (0: the source video's, 25 for a folder of frames)")
    styl.add_argument("--scratch", help="folder for the frames that wait for their next keyframe beyond 256 MB "
                      "of RAM (default: the system's temporary folder)")
    styl.add_argument("--keyframes", help="the stylized keyframes (models using the 'warp' or 'page' guide)")
    styl.add_argument("--masks", help="the keyframes' masks (only models of checkpoint format 1 trained with "
                                      "masks and guides: newer models store them)")
    styl.add_argument("--batch", type=int, default=4, help="frames per forward pass")
    styl.add_argument("--tile", type=int, default=DEFAULT_TILE,
                      help="tile size in pixels, bounds memory (0: by model, 1024 or 768)")
    styl.add_argument("--device", default="auto", choices=list(DEVICES), help=f"where to stylize ({DEVICE_HELP})")
    styl.add_argument("--precision", default="auto", choices=list(PRECISIONS))
    styl.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    styl.set_defaults(run=cmd_stylize)


def _suggest_command(sub) -> None:
    suggest = sub.add_parser("suggest", help="which frames to stylize: every shot first, then where the clip "
                             "changes most (new content, camera moves)")
    suggest.add_argument("--frames", required=True, help="folder of frames or a video file")
    suggest.add_argument("--count", type=int, required=True, help="how many frames to suggest")
    suggest.add_argument("--have", help="frames already stylized, 0-based ('0, 31'; ranges and -1 as Select "
                         "Frames takes them): never suggested; the suggestion adds --count frames to them")
    suggest.set_defaults(run=cmd_suggest)


def _batch_command(sub) -> None:
    batch = sub.add_parser("batch", help="train and stylize every shot of a manifest, on local worker processes "
                           "or a Ray cluster (README: Batch jobs)")
    batch.add_argument("manifest", help="JSON file: {\"defaults\": {...}, \"shots\": [{\"name\", \"frames\", "
                       "\"keyframes\", \"out\", ...}]}")
    batch.add_argument("--workers", type=int, default=1, help="local worker processes (default 1); with --ray local, "
                       "the CPUs of the local Ray instance")
    batch.add_argument("--ray", help="run on Ray: a cluster's address (host:port), 'auto' (the cluster this machine "
                       "belongs to) or 'local' (a private Ray instance on this machine, stopped at the end); needs "
                       "pip install \"patch-toon[ray]\"")
    batch.add_argument("--node-ip", help="this machine's address in the Ray cluster (when it has several)")
    batch.add_argument("--segment-frames", type=int, default=0,
                       help="frames per stylization task (0: about two tasks per worker and shot, at least 16)")
    batch.add_argument("--pid-folder", help=argparse.SUPPRESS)  # tests: where running segment tasks leave their pid
    batch.set_defaults(run=cmd_batch)


def _info_command(sub) -> None:
    info = sub.add_parser("info", help="print a model file's metadata")
    info.add_argument("model")
    info.set_defaults(run=cmd_info)


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
