"""A batch job over a project's shots: a model trained per shot, each shot stylized in segments, on local worker
processes (local.py) or on a Ray cluster (cluster.py); stoppable and resumable, one shot's bad input failing alone.

The shots come from a manifest (manifest.py); what each task does, and what it leaves on storage, is in tasks.py.
Tasks per shot: train (or reuse), plan (count the frames, cut the segments), the first pass (guided models whose
keyframe images are chained), then a task per segment, started as soon as its keyframe's image is there.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .manifest import Shot
from .tasks import finish_shot, plan_task, segment_task, source_file, survey_task, train_task

MAX_RETRIES = 3  # runs of a task after its worker died (Ray's own default, said out loud)


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

