"""A batch job over a project's shots: a model trained per shot, each shot stylized in segments, on local worker
processes (here) or on a Ray cluster (cluster.py); stoppable and resumable, one shot's bad input failing alone.

The shots come from a manifest (manifest.py). Per shot, on storage every worker sees:

- `<out>.safetensors`: the model trained for the shot (unless `model` is given). An existing one is reused
  (the job was stopped after training): files are renamed into place whole, so one that exists is finished;
  it must have been trained with the shot's preset, seed and steps, else the shot fails and the file stays.
- `out/`: the stylized frames (a folder, named like the input frames; 00000.png ... for a video input),
  moved in whole, segment by segment: a frame there is complete, and a rerun skips the segments whose
  frames are all there.
- `.<out name>.batch/` beside it: the job's notes (which model and frames made `out`, whether the shot is
  finished) and, while it runs, the keyframes' advected images from the first pass (segments.survey). A
  non-empty `out` without these notes is the user's: refused.

Tasks per shot: train (or reuse), plan (count the frames, cut the segments), the first pass (guided models whose
keyframe images are chained), then a task per segment, started as soon as its keyframe's image is there. Every
task returns a dict ({"error": message} on failure) rather than raising, so that the executors (local
processes, Ray) handle results one way and a failure is reported with its shot.
"""
from __future__ import annotations

import concurrent.futures as futures
import functools
from concurrent.futures.process import BrokenProcessPool
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, OutputExistsError, PatchToonError
from .manifest import Shot

MAX_RETRIES = 3  # runs of a task after its worker died (Ray's own default, said out loud)
MIN_SEGMENT_FRAMES = 16  # a segment loads the model and its keyframe's image, and reads from its anchor


# --- tasks (run on workers: plain functions of picklable arguments) -------------------------------------------

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


def _check_reusable(shot: Shot, path: Path, summary: dict) -> None:
    options = shot.train
    stored = {"preset": summary.get("preset"), "seed": summary.get("seed")}
    wanted = {"preset": options.preset, "seed": options.seed}
    if options.steps:
        stored["steps"], wanted["steps"] = summary.get("steps"), options.steps
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
    from ..pipeline.train_files import read_keyframes
    from ..stylize.needs import guides_need

    if not guides_need(model):
        return None
    return read_keyframes(source, shot.keyframes, shot.masks, ("keyframes", "masks"))[0]


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


# --- the driver ------------------------------------------------------------------------------------------------

class LocalExecutor:
    """Tasks on `workers` local processes (spawned: no state shared with the driver). A worker process that dies
    (killed, out of memory) breaks Python's pool and every task in it: the pool is started again and those tasks
    run again, up to MAX_RETRIES times each, as Ray does (a segment is written whole or not at all)."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ConfigError(f"--workers: expected 1 or more, received {workers}.")
        self.workers = workers
        self.pool = self._new_pool()

    def _new_pool(self) -> futures.ProcessPoolExecutor:
        return futures.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, kind: str, fn: Callable, *args) -> "_LocalTask":
        task = _LocalTask(fn, args)
        task.future = self.pool.submit(fn, *args)
        return task

    def wait(self, pending: list, timeout: float | None = None) -> list:
        done, _ = futures.wait([t.future for t in pending], timeout, return_when=futures.FIRST_COMPLETED)
        if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
            # The pool fails every task it held: wait for all of them to say so, then run them again.
            futures.wait([t.future for t in pending])
            lost = [t for t in pending if isinstance(t.future.exception(), BrokenProcessPool)
                    and t.runs <= MAX_RETRIES]
            self.pool.shutdown(wait=True)
            self.pool = self._new_pool()
            for task in lost:
                task.runs += 1
                task.future = self.pool.submit(task.fn, *task.args)
            done = {t.future for t in pending if t not in lost}
        return [t for t in pending if t.future in done]

    def result(self, handle: "_LocalTask") -> dict:
        try:
            return handle.future.result()
        except BrokenProcessPool:
            return {"error": f"its worker process died {handle.runs} times (killed, or out of memory?)"}
        except Exception as exc:  # noqa: BLE001 - the task could not be sent or returned (pickling)
            return {"error": f"{type(exc).__name__}: {exc}"}

    def close(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=True, cancel_futures=cancel)


@dataclass(eq=False)
class _LocalTask:
    """A task of LocalExecutor: what it runs, its current run's future, and how many runs it had."""

    fn: Callable
    args: tuple
    future: futures.Future | None = None
    runs: int = 1


@dataclass
class ShotState:
    shot: Shot
    status: str = "training"        # training, planning, stylizing, done, skipped, failed
    model: str = ""
    trained: bool = False
    frames: int = 0                 # the shot's frame count, once known
    written: int = 0
    skipped: int = 0
    pending: int = 0                # segments in flight
    waiting: list = field(default_factory=list)  # segments waiting for the first pass's image they start from
    errors: list[str] = field(default_factory=list)
    task_seconds: dict = field(default_factory=dict)  # kind -> [wall, cpu] seconds summed over its tasks

    def timed(self, kind: str, result: dict) -> None:
        wall, cpu = self.task_seconds.setdefault(kind, [0.0, 0.0])
        self.task_seconds[kind] = [round(wall + result.get("task_s", 0.0), 3),
                                   round(cpu + result.get("task_cpu_s", 0.0), 3)]

    def summary(self) -> dict:
        out = {"name": self.shot.name, "status": self.status, "out": self.shot.out, "model": self.model,
               "trained": self.trained, "frames": self.frames, "frames_written": self.written,
               "frames_skipped": self.skipped, "task_seconds": self.task_seconds}
        if self.errors:
            out["error"] = self.errors[0]
        return out


@dataclass
class JobProgress:
    """What the driver reports after each finished task (the CLI draws one bar from it)."""

    shots: int
    shots_finished: int
    frames_known: int
    frames_finished: int
    elapsed_s: float
    frames_per_s: float
    finished: ShotState | None = None   # set when a shot has just finished (done, skipped or failed)


def run_batch(shots: list[Shot], executor, workers: int, segment_frames: int = 0,
              on_progress: Callable[[JobProgress], None] | None = None, pid_folder: str | None = None) -> dict:
    """Run the job: per shot, train (or reuse) its model, survey it, stylize its segments, as workers free up.
    Returns the summary: {"shots", "done", "skipped", "failed": [{"name", "error"}], "frames_written", ...}."""
    start = time.monotonic()
    states = [ShotState(s) for s in shots]
    running: dict = {}   # handle -> (state, kind)

    def submit(state: ShotState, kind: str, fn: Callable, *args) -> None:
        running[executor.submit(kind, fn, *args)] = (state, kind)

    def fail(state: ShotState, message: str) -> None:
        state.errors.append(message)
        state.waiting = []
        if state.status in ("training", "planning"):
            state.status = "failed"
            report(state)
        else:
            settle(state)

    def settle(state: ShotState) -> None:
        """Close the shot when nothing of it runs or waits any more."""
        if state.status != "stylizing" or state.pending or state.waiting or _surveying(running, state):
            return
        if state.errors:
            state.status = "failed"
        else:
            _finished(state)
        report(state)

    def report(finished: ShotState | None = None) -> None:
        if on_progress is None:
            return
        elapsed = time.monotonic() - start
        written = sum(s.written for s in states)
        on_progress(JobProgress(len(states), sum(s.status in ("done", "skipped", "failed") for s in states),
                                sum(s.frames for s in states), written + sum(s.skipped for s in states), elapsed,
                                written / max(elapsed, 1e-9), finished))

    def release(state: ShotState, everything: bool = False) -> None:
        """Submit the waiting segments whose first-pass image is there (all of them once the pass is over)."""
        for segment in list(state.waiting):
            if everything or source_file(state.shot, segment[3]).is_file():
                state.waiting.remove(segment)
                state.pending += 1
                submit(state, "segment", segment_task, state.shot, state.model, tuple(segment), state.frames,
                       pid_folder)

    for state in states:
        submit(state, "train", train_task, state.shot)
    try:
        while running:
            # While a first pass runs, look for its images now and then: a segment starts as soon as its is there.
            passes = any(kind == "survey" for _, kind in running.values())
            for handle in executor.wait(list(running), 0.25 if passes else None):
                state, kind = running.pop(handle)
                result = executor.result(handle)
                state.timed(kind, result)
                if "error" in result:
                    if kind == "segment":
                        state.pending -= 1
                    fail(state, result["error"] if result["error"].startswith("shot ") else
                         f"shot {state.shot.name!r}: {result['error']}")
                    continue
                if kind == "train":
                    state.model, state.trained, state.status = result["model"], result["trained"], "planning"
                    submit(state, "plan", plan_task, state.shot, state.model, workers, segment_frames)
                elif kind == "plan":
                    state.frames, state.status = result["frames"], "stylizing"
                    todo = [seg[:4] for seg in result["segments"] if not seg[4]]
                    state.skipped += sum(seg[2] - seg[1] for seg in result["segments"] if seg[4])
                    state.waiting = [seg for seg in todo if seg[3] is not None]
                    # The first pass first: the segments that wait for it are on the job's critical path.
                    if any(not source_file(state.shot, seg[3]).is_file() for seg in state.waiting):
                        submit(state, "survey", survey_task, state.shot, state.model)
                    else:
                        release(state, everything=True)
                    for segment in todo:
                        if segment[3] is None:
                            state.pending += 1
                            submit(state, "segment", segment_task, state.shot, state.model, tuple(segment),
                                   state.frames, pid_folder)
                    settle(state)
                elif kind == "survey":
                    release(state, everything=True)
                    settle(state)
                else:
                    state.pending -= 1
                    state.written += result["frames"]
                    state.skipped += result["skipped"]
                    settle(state)
                report()
            for state in states:
                if state.waiting and not state.errors:
                    release(state)
    except BaseException:
        executor.close(cancel=True)
        raise
    executor.close()
    return {
        "shots": len(states),
        "done": [s.shot.name for s in states if s.status == "done"],
        "skipped": [s.shot.name for s in states if s.status == "skipped"],
        "failed": [{"name": s.shot.name, "error": s.errors[0]} for s in states if s.status == "failed"],
        "frames_written": sum(s.written for s in states),
        "frames_skipped": sum(s.skipped for s in states),
        "seconds": round(time.monotonic() - start, 3),
        "per_shot": [s.summary() for s in states],
    }


def _surveying(running: dict, state: ShotState) -> bool:
    return any(s is state and kind == "survey" for s, kind in running.values())


def _finished(state: ShotState) -> None:
    finish_shot(state.shot, state.frames)
    state.status = "skipped" if state.written == 0 and not state.trained else "done"

