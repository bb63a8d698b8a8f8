"""The command line's keyframe commands: `sheet` (one image to paint every keyframe on, and cut back), `guides`
(which guides the keyframes need) and `live` (training on while they are painted). cli.py registers them."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from .errors import OutputExistsError, PatchToonError
from .frames.selection import SYNTAX, parse_indices, read_frames_at
from .frames.sheets import DEFAULT_MAX_SIDE, make_sheet, split_sheet
from .frames.sources import FrameSource, read_image, to_tensor, to_uint8
from .frames.writers import IMAGE_FORMATS, FrameWriter, check_image_path, save_image
from .guides.auto import choose_guides
from .model.checkpoint import load_model
from .pipeline.train_files import TrainOptions, frames_at, read_keyframes


def cmd_live(args: argparse.Namespace) -> int:
    import signal

    from .pipeline.live import SAVE_REQUEST, LiveSession, LiveSettings

    save = Path(args.save) if args.save else None
    if save is not None:
        if save.suffix != ".safetensors":
            raise PatchToonError(f"--save: expected a file name ending in .safetensors, received {save.name!r}.")
        if save.exists() and not args.overwrite:
            raise OutputExistsError(f"--save: {save} already exists; it is never replaced silently. Choose another "
                                    f"name, or add --overwrite to replace it.")
    if args.seconds < 0:
        raise PatchToonError(f"--seconds: expected 0 (until Ctrl-C) or more, received {args.seconds}.")
    options = TrainOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainOptions)
                              if f.name not in ("steps", "seconds")})
    settings = LiveSettings(strip_frames=args.strip, refresh_s=args.refresh, max_share=args.max_share,
                            ramp_s=args.ramp)
    began = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - began:7.1f} s] {line}", file=sys.stderr, flush=True)

    init = load_model(args.init) if args.init else None
    session = LiveSession(args.frames, args.keyframes, options, args.preview, settings, say, init)
    session.save_path = save
    stopping = []
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, lambda *_: session.request_save())
    signal.signal(signal.SIGTERM, lambda *_: stopping.append("SIGTERM"))
    say(f"frames: {len(session.frames)} ({session.source.size[1]}x{session.source.size[0]}), guides: "
        f"{session.spec.describe()}, strip: {[session.names[t] for t in session.strip_indices]} in "
        f"{Path(args.preview) / 'strip'}; watching {args.keyframes}")
    session.start()
    how = f"touch {Path(args.preview) / SAVE_REQUEST}" + (" or kill -USR1 %d" % os.getpid()
                                                           if hasattr(signal, "SIGUSR1") else "")
    say(f"training; Ctrl-C stops{' and saves to ' + str(save) if save else ''}"
        f"{'; to save now: ' + how if save else ''}")
    last, last_steps = time.monotonic(), 0
    try:
        while not stopping and (not args.seconds or time.monotonic() - began < args.seconds):
            if not session.wait(0.2):
                break
            now = time.monotonic()
            if now - last >= args.report:
                steps = session.steps
                loss = session.trainer.losses.get("total", float("nan")) if session.trainer else float("nan")
                say(f"step {steps}  {(steps - last_steps) / (now - last):.1f} steps/s  loss {loss:.4f}  strip "
                    f"refreshed {session.refreshes} times (last took {session.refresh_cost:.2f} s)")
                last, last_steps = now, steps
    except KeyboardInterrupt:
        stopping.append("Ctrl-C")
    session.stop()
    say(f"stopped ({stopping[0] if stopping else 'after --seconds'}) at step {session.steps}")
    if save is not None and session.trainer is not None:
        session.save(save)
    elif save is not None:
        say(f"no keyframe was taken: nothing saved to {save}")
    print(json.dumps({"steps": session.steps, "seconds": round(time.monotonic() - began, 3),
                      "keyframes": session.keyframes(), "model": str(save) if save and session.trainer else None,
                      "preview": str(args.preview)}))
    return 0


def cmd_sheet_make(args: argparse.Namespace) -> int:
    source = FrameSource(args.frames, "--frames")
    picked = parse_indices(args.indices, len(source), "--indices")
    out = check_image_path(args.out, args.overwrite)  # before any frame is read
    frames, _ = read_frames_at(source, picked)
    sheet = make_sheet(frames, args.max_side)
    save_image(out, to_uint8(sheet)[0], overwrite=args.overwrite, what="--out")
    height, width = sheet.shape[1:3]
    print(json.dumps({"sheet": str(out), "width": width, "height": height, "indices": picked,
                      "frame_size": [frames.shape[2], frames.shape[1]], "max_side": args.max_side}))
    return 0


def cmd_sheet_split(args: argparse.Namespace) -> int:
    source = FrameSource(args.frames, "--frames")
    picked = parse_indices(args.indices, len(source), "--indices")
    out = Path(args.out)
    targets = [out / f"{source.stems[i]}.png" for i in picked]
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out: {out} exists and is not a folder. Give a folder for the keyframes.")
    taken = [str(t) for t in targets if t.exists()]
    if taken and not args.overwrite:
        raise OutputExistsError(f"--out: {', '.join(taken[:5])}{' ...' if len(taken) > 5 else ''} already "
                                f"exist{'s' if len(taken) == 1 else ''}; keyframes are never replaced silently. "
                                f"Choose another folder, or add --overwrite to replace them.")
    sheet_path = Path(args.sheet)
    if not sheet_path.is_file():
        raise PatchToonError(f"--sheet: {sheet_path} does not exist. Give the stylized sheet (an image file).")
    sheet = to_tensor([read_image(sheet_path, "--sheet")])
    frames, _ = read_frames_at(source, picked)
    keyframes, notes = split_sheet(sheet, frames.shape[1:3], len(picked), args.max_side, frames=frames,
                                   indices=picked)
    writer = FrameWriter(out, overwrite=True)  # same names checked above: nothing else in the folder is touched
    try:
        for target, image in zip(targets, to_uint8(keyframes)):
            writer.write(target.name, image)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps({"out": str(out), "keyframes": [t.name for t in targets], "indices": picked, "notes": notes}))
    return 0


def cmd_guides(args: argparse.Namespace) -> int:
    source = FrameSource(args.frames, "--frames")
    found, notes = read_keyframes(source, args.keyframes, args.masks)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    choice = choose_guides(frames_at(source, found.indices), found.images, found.masks)
    print(choice.describe(), file=sys.stderr)
    print(json.dumps({**choice.to_dict(), "guides": ",".join(("rgb",) + choice.guides),
                      "keyframes": [source.names[i] for i in found.indices]}))
    return 0


def live_command(sub) -> None:
    live = sub.add_parser("live", help="train without end on a folder of keyframes while they are painted: a "
                          "keyframe saved over, added or removed is taken within a second, and a strip of frames "
                          "spread over the clip follows (README: Live sessions)")
    live.add_argument("--frames", required=True, help="folder of frames or a video file (held in memory)")
    live.add_argument("--keyframes", required=True, help="folder of stylized keyframes named like their frames, "
                      "watched: save over, add or remove files while it runs")
    live.add_argument("--preview", required=True, metavar="OUT", help="folder for strip/ (the strip's frames, "
                      "named like the clip's, each replaced atomically) and status.json")
    live.add_argument("--save", metavar="MODEL", help="model file (.safetensors) written at the end, and whenever "
                      "OUT/save.request appears (or on SIGUSR1)")
    live.add_argument("--overwrite", action="store_true", help="replace --save if it exists")
    live.add_argument("--seconds", type=float, default=0.0, help="stop after this many seconds (0: until Ctrl-C)")
    live.add_argument("--strip", type=int, default=5, help="frames in the strip, spread over the clip (default 5)")
    live.add_argument("--refresh", type=float, default=1.0, help="refresh the strip at most this often, in seconds")
    live.add_argument("--max-share", type=float, default=0.2, help="at most this share of the time goes to "
                      "rendering the strip: a slower render refreshes less often (default 0.2)")
    live.add_argument("--ramp", type=float, default=30.0, help="seconds of the first learning-rate schedule "
                      "(as train --seconds); after it the rate stays at its end, and each keyframe change "
                      "starts a warm start's schedule")
    live.add_argument("--report", type=float, default=5.0, help=argparse.SUPPRESS)
    live.add_argument("--init", metavar="MODEL", help="start from this model (same preset and guides)")
    for option in dataclasses.fields(TrainOptions):
        if option.name in ("steps", "seconds"):
            continue
        argument = dict(option.metadata)
        argument.pop("budget", None)
        kind = argument.pop("type", type(option.default))
        live.add_argument("--" + option.name.replace("_", "-"), default=option.default, type=kind, **argument)
    live.set_defaults(run=cmd_live)


def guides_command(sub) -> None:
    guides = sub.add_parser("guides", help="which guides `train --guides auto` (the default) chooses for these "
                            "keyframes, and why, without training")
    guides.add_argument("--frames", required=True, help="folder of frames or a video file")
    guides.add_argument("--keyframes", required=True, help="folder of stylized keyframes named like their frames")
    guides.add_argument("--masks", help="folder of masks named like the keyframes (white = valid style)")
    guides.set_defaults(run=cmd_guides)


def sheet_command(sub) -> None:
    sheet = sub.add_parser("sheet", help="keyframes on one sheet, to stylize them in one pass with an image model "
                           "(they then agree with each other), and the stylized sheet cut back into keyframes")
    verbs = sheet.add_subparsers(dest="verb", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--frames", required=True, help="folder of frames or a video file (the whole clip)")
    common.add_argument("--indices", required=True, help=f"the keyframes, 0-based: {SYNTAX}; on the sheet in this "
                        "order")
    common.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, help="the sheet's longer side at most, in "
                        f"pixels (default {DEFAULT_MAX_SIDE}); give split the value make was given")
    common.add_argument("--overwrite", action="store_true", help="replace existing files of the same names")
    make = verbs.add_parser("make", parents=[common], help="tile the keyframes into one image")
    make.add_argument("--out", required=True, help=f"the sheet to write ({', '.join(IMAGE_FORMATS)})")
    make.set_defaults(run=cmd_sheet_make)
    split = verbs.add_parser("split", parents=[common], help="cut a stylized sheet back into keyframes at the "
                             "frames' size, named like their frames (train --keyframes reads the folder)")
    split.add_argument("--sheet", required=True, help="the stylized sheet (any size of the sheet's aspect)")
    split.add_argument("--out", required=True, help="folder for the keyframes (PNG, named like the frames)")
    split.set_defaults(run=cmd_sheet_split)
