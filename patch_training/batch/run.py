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

MAX_RETRIES = 3  # runs of a task after its worker died, in both executors (Ray's own default, said out loud)


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
    executor: LocalExecutor or cluster.RayExecutor (submit, wait, result, close); closed when the job ends.
    Returns the summary: {"shots", "done", "skipped", "failed": [{"name", "error"}], "frames_written", ...}."""
    job = _Scheduler(shots, executor, workers, segment_frames, on_progress, pid_folder)
    job.submit_training()
    try:
        job.run()
    except BaseException:
        executor.close(cancel=True)
        raise
    executor.close()
    return job.summary()


class _Scheduler:
    """One run of run_batch: the shots' states, the tasks in flight, and what a finished task lets start."""

    def __init__(self, shots: list[Shot], executor, workers: int, segment_frames: int,
                 on_progress: Callable[[JobProgress], None] | None, pid_folder: str | None):
        self.start = time.monotonic()
        self.states = [ShotState(s) for s in shots]
        self.running: dict = {}   # handle -> (state, kind)
        self.executor, self.workers, self.segment_frames = executor, workers, segment_frames
        self.on_progress, self.pid_folder = on_progress, pid_folder

    def submit_training(self) -> None:
        for state in self.states:
            self.submit(state, "train", train_task, state.shot)

    def run(self) -> None:
        """Hand each finished task's result on until nothing runs any more."""
        while self.running:
            # While a first pass runs, look for its images now and then: a segment starts as soon as its is there.
            passes = any(kind == "survey" for _, kind in self.running.values())
            for handle in self.executor.wait(list(self.running), 0.25 if passes else None):
                self.task_finished(handle)
            for state in self.states:
                if state.waiting and not state.errors:
                    self.release(state)

    def submit(self, state: ShotState, kind: str, fn: Callable, *args) -> None:
        self.running[self.executor.submit(kind, fn, *args)] = (state, kind)

    def submit_segment(self, state: ShotState, segment: list) -> None:
        state.pending += 1
        self.submit(state, "segment", segment_task, state.shot, state.model, tuple(segment), state.frames,
                    self.pid_folder)

    def task_finished(self, handle) -> None:
        state, kind = self.running.pop(handle)
        result = self.executor.result(handle)
        state.timed(kind, result)
        if "error" in result:
            if kind == "segment":
                state.pending -= 1
            error = result["error"]
            self.fail(state, error if error.startswith("shot ") else f"shot {state.shot.name!r}: {error}")
            return
        handlers = {"train": self.trained, "plan": self.planned, "survey": self.surveyed, "segment": self.stylized}
        handlers[kind](state, result)
        self.report()

    def trained(self, state: ShotState, result: dict) -> None:
        state.model, state.trained, state.status = result["model"], result["trained"], "planning"
        self.submit(state, "plan", plan_task, state.shot, state.model, self.workers, self.segment_frames)

    def planned(self, state: ShotState, result: dict) -> None:
        state.frames, state.status = result["frames"], "stylizing"
        todo = [seg[:4] for seg in result["segments"] if not seg[4]]
        state.skipped += sum(seg[2] - seg[1] for seg in result["segments"] if seg[4])
        state.waiting = [seg for seg in todo if seg[3] is not None]
        # The first pass first: the segments that wait for it are on the job's critical path.
        if any(not source_file(state.shot, seg[3]).is_file() for seg in state.waiting):
            self.submit(state, "survey", survey_task, state.shot, state.model)
        else:
            self.release(state, everything=True)
        for segment in todo:
            if segment[3] is None:
                self.submit_segment(state, segment)
        self.settle(state)

    def surveyed(self, state: ShotState, result: dict) -> None:
        self.release(state, everything=True)
        self.settle(state)

    def stylized(self, state: ShotState, result: dict) -> None:
        state.pending -= 1
        state.written += result["frames"]
        state.skipped += result["skipped"]
        self.settle(state)

    def release(self, state: ShotState, everything: bool = False) -> None:
        """Submit the waiting segments whose first-pass image is there (all of them once the pass is over)."""
        for segment in list(state.waiting):
            if everything or source_file(state.shot, segment[3]).is_file():
                state.waiting.remove(segment)
                self.submit_segment(state, segment)

    def fail(self, state: ShotState, message: str) -> None:
        state.errors.append(message)
        state.waiting = []
        if state.status in ("training", "planning"):
            state.status = "failed"
            self.report(state)
        else:
            self.settle(state)

    def settle(self, state: ShotState) -> None:
        """Close the shot when nothing of it runs or waits any more."""
        surveying = any(s is state and kind == "survey" for s, kind in self.running.values())
        if state.status != "stylizing" or state.pending or state.waiting or surveying:
            return
        if state.errors:
            state.status = "failed"
        else:
            finish_shot(state.shot, state.frames)
            state.status = "skipped" if state.written == 0 and not state.trained else "done"
        self.report(state)

    def report(self, finished: ShotState | None = None) -> None:
        if self.on_progress is None:
            return
        states, elapsed = self.states, time.monotonic() - self.start
        written = sum(s.written for s in states)
        self.on_progress(JobProgress(len(states), sum(s.status in ("done", "skipped", "failed") for s in states),
                                     sum(s.frames for s in states), written + sum(s.skipped for s in states),
                                     elapsed, written / max(elapsed, 1e-9), finished))

    def summary(self) -> dict:
        states = self.states
        return {
            "shots": len(states),
            "done": [s.shot.name for s in states if s.status == "done"],
            "skipped": [s.shot.name for s in states if s.status == "skipped"],
            "failed": [{"name": s.shot.name, "error": s.errors[0]} for s in states if s.status == "failed"],
            "frames_written": sum(s.written for s in states),
            "frames_skipped": sum(s.skipped for s in states),
            "seconds": round(time.monotonic() - self.start, 3),
            "per_shot": [s.summary() for s in states],
        }
