"""A batch job's tasks on worker processes of this machine (LocalExecutor): run_batch's executor without Ray."""
from __future__ import annotations

import concurrent.futures as futures
from concurrent.futures.process import BrokenProcessPool
import multiprocessing
from dataclasses import dataclass
from typing import Callable

from ..errors import ConfigError
from .run import MAX_RETRIES


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
