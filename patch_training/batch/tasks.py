"""What one task of a batch job does, on any machine: train a shot's model, plan its segments, its first pass,
one segment; plain functions of picklable arguments, so that local processes (local.py) and Ray (cluster.py) run
them alike.

Per shot, on storage every worker sees:

- `<out>.safetensors`: the model trained for the shot (unless `model` is given). An existing one is reused
  (the job was stopped after training): files are renamed into place whole, so one that exists is finished;
  it must have been trained with the shot's preset, seed and steps, else the shot fails and the file stays.
- `out/`: the stylized frames (a folder, named like the input frames; 00000.png ... for a video input),
  moved in whole, segment by segment: a frame there is complete, and a rerun skips the segments whose
  frames are all there.
- `.<out name>.batch/` beside it: the job's notes (which model and frames made `out`, whether the shot is
  finished) and, while it runs, the keyframes' advected images from the first pass (segments.survey). A
  non-empty `out` without these notes is the user's: refused.

Every task returns a dict ({"error": message} on failure) rather than raising, so that the executors handle
results one way and a failure is reported with its shot.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import time
import traceback
from pathlib import Path
from typing import Callable

from ..errors import OutputExistsError, PatchToonError
from ..model.summary import TrainSummary
from .manifest import Shot

MIN_SEGMENT_FRAMES = 16  # a segment loads the model and its keyframe's image, and reads from its anchor


def _timed(task: Callable) -> Callable:
    """A task that also returns how long it ran on its worker: `task_s` (wall) and `task_cpu_s` (the worker's
    CPU time), so the summary can say where a shot's time went (benchmarks/bench_batch.py prints it)."""
    @functools.wraps(task)
    def timed(*args):
        start, cpu = time.monotonic(), time.process_time()
        result = task(*args)
        result["task_s"] = round(time.monotonic() - start, 3)
        result["task_cpu_s"] = round(time.process_time() - cpu, 3)
        return result
    return timed


def _failed(shot: Shot, exc: BaseException) -> dict:
    if isinstance(exc, PatchToonError):
        return {"error": f"shot {shot.name!r}: {exc}"}
    if isinstance(exc, OSError):
        return {"error": f"shot {shot.name!r}: cannot access {exc.filename or 'a file'} from this worker "
                         f"({exc.strerror or exc}). Inputs and outputs must be on storage every worker sees."}
    return {"error": f"shot {shot.name!r}: {type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(limit=8)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@_timed
def train_task(shot: Shot) -> dict:
    """Train the shot's model into <out>.safetensors (or reuse it / the given model): {"model", "trained"}."""
    from ..model.checkpoint import load_model, save_model
    from ..pipeline.train_files import train_from_files
    from ..runtime import cpu_threads

    try:
        path = shot.model_path
        if shot.model:
            if not path.is_file():
                raise PatchToonError(f"model: {path} does not exist. Give the path of a trained model, or leave "
                                     f"out 'model' to train one.")
            load_model(path)
            return {"model": str(path), "trained": False}
        if path.exists():
            _check_reusable(shot, path, load_model(path).summary)
            return {"model": str(path), "trained": False}
        log: list[str] = []
        with cpu_threads(shot.train.threads):
            model = train_from_files(shot.frames, shot.keyframes, shot.masks, shot.train, log=log.append)
        save_model(model, path)
        return {"model": str(path), "trained": True, "log": log}
    except Exception as exc:  # noqa: BLE001 - reported with the shot, the other shots go on
        return _failed(shot, exc)


def _check_reusable(shot: Shot, path: Path, summary: TrainSummary) -> None:
    options = shot.train
    stored = {"preset": summary.preset, "seed": summary.seed}
    wanted = {"preset": options.preset, "seed": options.seed}
    if options.steps:
        stored["steps"], wanted["steps"] = summary.steps, options.steps
    if stored != wanted:
        raise OutputExistsError(f"model: {path} exists, trained with {stored}, but the shot asks for {wanted}; it is "
                                f"never replaced. Delete it to train again, or name it in the shot's 'model' to "
                                f"use it as it is.")


@_timed
def plan_task(shot: Shot, model_path: str, workers: int, segment_frames: int = 0) -> dict:
    """The shot's segments (segments.plan_segments): {"frames": count, "segments": [[read_from, first, stop,
    source, done]]}. Claims `out` for this job, or refuses it when it holds someone else's files."""
    from ..model.checkpoint import load_model
    from ..frames.sources import FrameSource
    from ..pipeline.stylize_files import output_names, segment_done
    from ..stylize.segments import Segment, guided_plan

    try:
        out, work = Path(shot.out), shot.work
        job = {"frames": shot.frames, "model": model_path, "model_sha256": _sha256(Path(model_path))}
        claimed = _read_json(work / "job.json")
        if claimed is not None and {k: claimed.get(k) for k in job} != job:
            raise OutputExistsError(f"out: {out} was written by an earlier job with another model or frames "
                                    f"({claimed.get('model')}); its frames are never mixed. Give another out "
                                    f"folder, or delete {out} and {work}.")
        if claimed is None and out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise OutputExistsError(f"out: {out} exists and is not an empty folder; its files are never "
                                    f"replaced. Give a new folder for the shot's frames.")
        source = FrameSource(shot.frames, "frames")
        if claimed is not None and claimed.get("finished"):  # a rerun: nothing to do if every frame is there
            count = claimed["frame_count"]
            if segment_done(out, output_names(source, count), Segment(0, 0, count)):
                return {"segments": [[0, 0, count, None, True]], "frames": count}
        work.mkdir(parents=True, exist_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        _write_json(work / "job.json", job)
        count = source.count()
        max_frames = segment_frames or max(MIN_SEGMENT_FRAMES, math.ceil(count / (2 * max(workers, 1))))
        names = output_names(source, count)
        segments = [[s.read_from, s.first, s.stop, s.source, segment_done(out, names, s)]
                    for s in guided_plan(load_model(model_path), count, max_frames)]
        return {"segments": segments, "frames": count}
    except Exception as exc:  # noqa: BLE001
        return _failed(shot, exc)


def source_file(shot: Shot, keyframe: int) -> Path:
    """Where the first pass leaves the image advected from `keyframe` (float32 .npy)."""
    return shot.work / f"source-{keyframe}.npy"


@_timed
def survey_task(shot: Shot, model_path: str) -> dict:
    """The shot's first pass (segments.survey): each keyframe's advected image written to source_file() as soon
    as it is made (under a temporary name, then renamed), for the segments anchored there. {"frames": count}."""
    import numpy as np

    from ..model.checkpoint import load_model
    from ..frames.sources import FrameSource
    from ..stylize.segments import survey

    def keep(keyframe: int, image) -> None:
        path = source_file(shot, keyframe)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, image, allow_pickle=False)
        os.replace(tmp, path)

    try:
        model = load_model(model_path)
        source = FrameSource(shot.frames, "frames")
        return {"frames": survey(model, source, keep, _keyframe_inputs(shot, model, source))}
    except Exception as exc:  # noqa: BLE001
        return _failed(shot, exc)


def _keyframe_inputs(shot: Shot, model, source):
    """The stylized keyframes (and masks) a model needs to rebuild its guides ('warp', format-1 masks), or None."""
    from ..pipeline.train_files import align_of, read_keyframes
    from ..stylize.needs import guides_need

    if not guides_need(model):
        return None
    return read_keyframes(source, shot.keyframes, shot.masks, ("keyframes", "masks"), align_of(model))[0]


@_timed
def segment_task(shot: Shot, model_path: str, segment: tuple, frame_count: int, pid_folder: str | None = None) -> dict:
    """Stylize frames first..stop-1 of the shot into `out` (pipeline.stylize_files.stylize_segment): {"frames": written,
    "skipped": frames already there}. pid_folder: where to leave a file named after this worker's process id
    while it runs (tests kill it)."""
    import numpy as np

    from ..model.checkpoint import load_model
    from ..frames.sources import FrameSource
    from ..runtime import cpu_threads
    from ..config import StylizeOptions
    from ..pipeline.stylize_files import output_names, segment_done, stylize_segment
    from ..stylize.segments import Segment

    marker = None
    try:
        part = Segment(*segment)
        source = FrameSource(shot.frames, "frames")
        if segment_done(Path(shot.out), output_names(source, frame_count), part):
            return {"frames": 0, "skipped": part.stop - part.first}
        if pid_folder:
            marker = Path(pid_folder) / f"{os.getpid()}.pid"
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"{shot.name} {part.name}\n")
        given = {}
        if part.source is not None:
            path = source_file(shot, part.source)
            if not path.is_file():
                raise PatchToonError(f"out: the first pass's image of keyframe {part.source} is missing from "
                                     f"{shot.work} (deleted while the job ran?). Run the job again.")
            given[part.source] = np.load(path, allow_pickle=False)
        model = load_model(model_path)
        options = StylizeOptions(shot.batch, shot.tile, shot.train.device, shot.train.precision, shot.train.threads)
        with cpu_threads(shot.train.threads):
            written = stylize_segment(model, source, part, frame_count, Path(shot.out), given,
                                      _keyframe_inputs(shot, model, source), options)
        return {"frames": written, "skipped": 0}
    except Exception as exc:  # noqa: BLE001
        return _failed(shot, exc)
    finally:
        if marker is not None:
            marker.unlink(missing_ok=True)


def finish_shot(shot: Shot, frames: int) -> None:
    """After every segment: remove staging folders of attempts that died (their frames were done again), mark the
    shot finished, drop the first pass's images (the shot's notes stay, so a rerun knows `out` is the job's)."""
    out = Path(shot.out)
    for stale in out.parent.glob(f".{out.name}.*.partial*"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    for image in shot.work.glob("source-*.npy"):
        image.unlink(missing_ok=True)
    job = _read_json(shot.work / "job.json") or {}
    _write_json(shot.work / "job.json", {**job, "finished": True, "frame_count": frames})


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)
