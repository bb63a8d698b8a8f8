"""A live session: a trainer that outlives one run, follows its keyframes as they are painted and keeps a strip of
the clip current (the paper's live loop: paint a keyframe, the whole clip follows).

The session holds the clip, trains without end (train.live.LiveTrainer), takes keyframes from a watched folder
(frames.watch) or from its caller (replace_keyframe, remove_keyframe: a ComfyUI panel), and every second or so
renders a few frames spread over the clip, within a bounded share of the time. With an output folder it writes
them as `strip/<frame name>.png` (each replaced atomically) and `status.json`. The command line's `live` is a
thin loop over it; start(), stop(), strip() and keep_model() are what a panel calls.

What a frame's guides depend on: 'edges' and 'denoise' on the frames alone; 'gauss' on which frames are keyframes
(and their masks), not on what is painted on them. So a keyframe saved over costs no guide work; a keyframe
added or removed recomputes the guides at the frames the session uses (the keyframes' and the strip's), one
streamed pass over the clip. 'warp' and 'page' (guides made of the painted keyframes) are not live.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Callable

import torch

from ..errors import GuideError, KeyframeError, PatchToonError
from ..frames.selection import strip_indices
from ..frames.sources import FrameSource, to_uint8
from ..frames.watch import KeyframeFolderWatcher
from ..guides.stream import stream_guides
from ..keyframes import Keyframes
from ..model.checkpoint import save_model
from ..model.networks import StyleModel
from ..runtime import cpu_threads
from ..train.fit import check_training_memory
from ..train.live import LiveTrainer
from ..train.progress import scaled_input
from .live_keyframes import LiveKeyframes, checked_keyframe
from .live_preview import SAVE_REQUEST, LiveSettings, output_folder, write_preview
from .train_files import TrainOptions

log = logging.getLogger(__name__)

# At start, the session waits this long for the keyframes in the folder to be complete (then trains on those it
# has; training waits while there are none).
FIRST_KEYFRAME_S = 10.0


class LiveSession:
    """Training that follows its keyframes; see the module's docstring.

    frames: a folder of frames or a video file (read into memory at start); keyframes: a folder to watch (images
    named like the frames), or None when the caller gives them (replace_keyframe); out: the folder for strip/ and
    status.json, or None (strip() only). say(line): what the user should read (pick-ups, notes, saves).
    clock: what the learning-rate schedules count in seconds (the wall; a benchmark may count CPU time).
    Raises FramesError, KeyframeError, GuideError, ConfigError, MemoryLimitError, OutputExistsError.
    """

    def __init__(self, frames: str | Path, keyframes: str | Path | None, options: TrainOptions = TrainOptions(),
                 out: str | Path | None = None, settings: LiveSettings = LiveSettings(),
                 say: Callable[[str], None] | None = None, init: StyleModel | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        settings.check()
        self.settings, self.options = settings, options
        self.say = say or (lambda line: log.info("%s", line))
        self.spec = options.spec()
        if self.spec.needs_keyframe_images:
            names = self.spec.say_keyframe_image_guides()
            raise GuideError(f"--guides: {names} {'is' if names.endswith('guide') else 'are'} made of the painted "
                             f"keyframes and recomputed over the whole clip at every edit, which a live session "
                             f"does not do. Drop {names} (e.g. --guides rgb,gauss,edges); train it with "
                             f"`patch-toon train` once the keyframes are final.")
        self.config = dataclasses.replace(options.config(), seconds=settings.ramp_s, steps=0)
        self.source = FrameSource(frames, "--frames")
        check_training_memory(len(self.source), *self.source.size, 4, self.config,
                              spec=self.spec if self.spec.guides else None, frames_held=False)
        self.frames = self.source.read_all()
        self.names = list(self.source.names)
        self.stems = list(self.source.stems)
        self.strip_indices = strip_indices(len(self.frames), settings.strip_frames)
        self.out = None if out is None else output_folder(Path(out))
        if keyframes is not None and not Path(keyframes).is_dir():
            raise KeyframeError(f"--keyframes: expected a folder of stylized keyframes named like the frames, "
                                f"{keyframes} is not a folder. Make it (it may start empty) and save keyframes there.")
        self.watcher = None if keyframes is None else KeyframeFolderWatcher(keyframes, self.stems)
        self.init, self.clock = init, clock
        self.trainer: LiveTrainer | None = None
        self.keys = LiveKeyframes(self.frames)
        self._styles, self._hashes = self.keys.styles, self.keys.hashes  # the same dicts, for short lines
        self._guides: dict[int, torch.Tensor] = {}     # frame -> its guides [H, W, G] for the current keyframe set
        self._guide_keys: tuple[int, ...] | None = None
        self._strip_input: torch.Tensor | None = None
        self._strip: torch.Tensor | None = None
        # The training lock. The training thread takes it again right after each step, and a plain lock lets it:
        # a caller from another thread (a server route) could wait for minutes. Such callers go through _turn,
        # a turnstile the loop passes before each step (see _outside), so they wait one step at most.
        self._lock = threading.RLock()
        self._turn = threading.Lock()
        self._stop = threading.Event()
        self._save_asked = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.refreshed_at = 0.0
        self.refresh_cost = 0.0
        self.refreshes = 0
        self.refresh_total_s = 0.0  # time spent refreshing, all refreshes together
        self.started = time.monotonic()
        self.save_path: Path | None = None
        self.saved: list[tuple[int, str]] = []  # (step, path) of each save

    # ------------------------------------------------------------------ what a caller (a panel, the CLI) uses

    def start(self) -> None:
        """Take the first keyframes (from the folder: waits up to FIRST_KEYFRAME_S for a complete one) and train
        in a background thread until stop()."""
        if self._thread is not None:
            return
        if self.watcher is not None:
            deadline = time.monotonic() + FIRST_KEYFRAME_S
            for look in range(10 ** 9):  # two looks take a complete file; files being written are waited for
                self._take(self.watcher.poll())
                if look >= 1 and not self.watcher.waiting or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        self._apply_pending()
        if not self._styles and self.watcher is not None:
            self.say(f"no complete keyframe in {self.watcher.folder} yet: training starts with the first one saved "
                     f"there, named like its frame (e.g. {self.stems[0]}.png)")
        self._refresh()
        self._thread = threading.Thread(target=self._run, name="patch-toon live", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop training (after the step under way); raises what stopped the session if it failed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._error is not None:
            raise self._error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def ended(self) -> bool:
        """True once training started and its thread is over (stopped, or failed: see error)."""
        return self._thread is not None and not self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        """What stopped the training thread, when it failed (stop() and wait() raise it)."""
        return self._error

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds` or until the session ends; True if it still runs."""
        if self._thread is not None:
            self._thread.join(seconds)
        if self._error is not None:
            raise self._error
        return self.running

    def replace_keyframe(self, frame: int | str, image: torch.Tensor, label: str = "") -> None:
        """Train on `image` ([H, W, 3] float 0..1, or uint8) as the stylization of `frame` (its index or name)
        from the next step on: added, or saved over the previous one."""
        index = self._index(frame)
        if image.dtype == torch.uint8:
            image = image.float() / 255
        self.keys.queue_set(index, image, label or self.names[index])

    def check_keyframe(self, frame: int | str, image: torch.Tensor) -> list[str]:
        """What replace_keyframe would do with `image` for `frame`, checked now: its notes (e.g. resized), or
        KeyframeError / PatchToonError naming what is wrong (a frame out of range, another aspect ratio)."""
        index = self._index(frame)
        if image.dtype == torch.uint8:
            image = image.float() / 255
        return list(checked_keyframe(index, image, self.frames)[1])

    def keyframe_image(self, frame: int | str) -> torch.Tensor | None:
        """The stylized keyframe trained on at `frame` ([H, W, 3] float 0..1), or None when it is no keyframe."""
        return self._styles.get(self._index(frame))

    def remove_keyframe(self, frame: int | str) -> None:
        index = self._index(frame)
        self.keys.queue_remove(index, self.names[index])

    @property
    def steps(self) -> int:
        return 0 if self.trainer is None else self.trainer.steps

    def keyframes(self) -> dict[str, str]:
        """name -> sha256 of each keyframe trained on (of the file, for a keyframe read from one); never waits
        for the training thread."""
        return dict(self.keys.published)

    def strip(self) -> tuple[list[int], torch.Tensor | None]:
        """(frame indices, their latest stylization [N, h, w, 3] float32 0..1, or None before the first); never
        waits for the training thread."""
        return list(self.strip_indices), self._strip

    def render(self, indices: list[int], max_side: int | None = None) -> torch.Tensor:
        """Frames `indices` stylized by the current weights, [N, h, w, 3] (max_side: the result downscaled to at
        most; the network always sees the frames at the size it trains on, as a model stylizes them)."""
        with self._outside():
            return self._stylized(self._inputs(indices), max_side)

    def keep_model(self) -> StyleModel:
        """A copy of the current model (train on; stylize or save the copy)."""
        with self._outside():
            if self.trainer is None:
                raise PatchToonError("live session: no model yet; it starts with the first keyframe.")
            model = self.trainer.model([t for t in sorted(self._styles)])
            model.summary.extra["live"] = {"keyframes": self.keyframes(), "changes": self.trainer.changes}
            return model

    def request_save(self) -> None:
        """Ask for the model to be saved to save_path at the next step (safe from a signal handler)."""
        self._save_asked.set()

    def save(self, path: str | Path | None = None) -> Path:
        """Write the current model to `path` (default: save_path), replacing the session's previous save."""
        if path is None and self.save_path is None:
            raise PatchToonError("--save: no model file given to save to.")
        path = Path(path if path is not None else self.save_path)
        model = self.keep_model()
        saved = save_model(model, path, overwrite=True)
        self.saved.append((model.summary.steps, str(saved)))
        self.say(f"saved the model to {saved} (step {model.summary.steps})")
        return saved

    # ------------------------------------------------------------------ the training thread

    def _run(self) -> None:
        try:
            # The thread count once for the whole thread (a new thread starts at torch's default count): the
            # per-step settings inside the trainer are then no-ops.
            with cpu_threads(self.config.threads):
                self._loop()
        except BaseException as exc:  # reported by stop() / wait() in the caller's thread
            self._error = exc
            self._stop.set()

    def _loop(self) -> None:
        next_poll = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if self.watcher is not None and now >= next_poll:
                self._take(self.watcher.poll())
                next_poll = now + self.settings.poll_s
            if self.out is not None and (self.out / SAVE_REQUEST).exists():
                (self.out / SAVE_REQUEST).unlink(missing_ok=True)
                if self.save_path is None:
                    self.say(f"{SAVE_REQUEST}: no --save file was given; nothing saved")
                else:
                    self._save_asked.set()
            if self._save_asked.is_set() and self.save_path is not None:
                self._save_asked.clear()
                if self.trainer is None:
                    self.say("save asked before the first keyframe: nothing to save yet")
                else:
                    self.save()
            with self._turn:  # lets a caller waiting in _outside in first
                pass
            with self._lock:
                self._apply_pending()
                if not self._styles:
                    time.sleep(self.settings.poll_s)
                    continue
                self.trainer.train(1)
            if time.monotonic() - self.refreshed_at >= max(self.settings.refresh_s,
                                                           self.refresh_cost / self.settings.max_share):
                self._refresh()

    def _take(self, changes) -> None:
        """Queue what the folder watcher found (and tell the user)."""
        for line in changes.notes:
            self.say(line)
        for stem, file in changes.changed.items():
            index = self.stems.index(stem)
            image = torch.from_numpy(file.image).float().div_(255)
            self.keys.queue_set(index, image, file.name, file.sha256)
        for stem in changes.removed:
            self.keys.queue_remove(self.stems.index(stem), self.names[self.stems.index(stem)])

    def _apply_pending(self) -> None:
        with self._lock:
            elapsed = time.monotonic() - self.started
            changed, kept = self.keys.take(self.say, self.clock())
            if not changed:
                return
            if not self._styles:
                self.say(f"{elapsed:6.1f} s: {', '.join(changed)}; no keyframe left, training paused until one "
                         f"is saved")
                return
            began = time.monotonic()
            recomputed = self._update_guides()
            frames, keys, guides = self._training_rows()
            if self.trainer is None:
                self.trainer = LiveTrainer(frames, keys, self.config, guides,
                                           self.spec.to_dict() if self.spec.guides else None, init=self.init,
                                           clock=self.clock)
            else:
                schedule = self.settings.on_change if self.settings.on_change != "auto" else (
                    "warm" if kept else "cold")
                self.trainer.set_keyframes(frames, keys, guides, schedule)
                if schedule == "cold":
                    start = "from the starting weights" if self.trainer.restarted else "from the current weights"
                    changed.append(f"no keyframe kept: learning rate as a fresh start's, {start}")
            took = f"; guides recomputed in {time.monotonic() - began:.1f} s" if recomputed else ""
            self.say(f"{elapsed:6.1f} s, step {self.trainer.steps}: {', '.join(changed)}; training on "
                     f"{[self._hashes[t][0] for t in sorted(self._styles)]}{took}")

    def _update_guides(self) -> bool:
        """Guides at the keyframes' and the strip's frames for the current keyframe set; True if recomputed."""
        keys = tuple(sorted(self._styles))
        if not self.spec.guides or keys == self._guide_keys:
            return False
        wanted = sorted(set(keys) | set(self.strip_indices))
        frames = (f.numpy() for f in self.frames)
        rows = {t: torch.from_numpy(g) for t, _, g in stream_guides(frames, self.spec, list(keys),
                                                                   frame_count=len(self.frames), only=wanted)
                if t in wanted}
        self._guides, self._guide_keys = rows, keys
        self._strip_input = None
        return True

    def _training_rows(self) -> tuple[torch.Tensor, Keyframes, torch.Tensor | None]:
        keys = sorted(self._styles)
        frames = self.frames[keys]
        styled = Keyframes(tuple(range(len(keys))), torch.stack([self._styles[t] for t in keys]))
        guides = torch.stack([self._guides[t] for t in keys]) if self.spec.guides else None
        return frames, styled, guides

    def _inputs(self, indices: list[int]) -> torch.Tensor:
        """Frames `indices` with their guides, [N, h, w, 3 + G], at the session's size."""
        if self.spec.guides:
            missing = [t for t in indices if t not in self._guides]
            if missing:
                raise PatchToonError(f"live session: frames {missing} have no guides computed; render the strip's "
                                     f"frames {self.strip_indices} or the keyframes.")
        guides = torch.stack([self._guides[t] for t in indices]) if self.spec.guides else None
        return scaled_input(self.frames[indices], guides, list(range(len(indices))), None)

    def _stylized(self, x: torch.Tensor, max_side: int | None) -> torch.Tensor:
        """`x` (from _inputs) stylized at its size, then shrunk to at most max_side a side (training lock held)."""
        return scaled_input(self.trainer.render(x), None, list(range(len(x))), max_side)

    def _refresh(self) -> None:
        """Render the strip with the current weights; write it and status.json."""
        if self.trainer is None:
            return
        began, held = time.monotonic(), self.clock()
        with self._lock:
            if self._strip_input is None:
                self._strip_input = self._inputs(self.strip_indices)  # rendered at the trained scale, then shrunk
            strip = self._stylized(self._strip_input, self.settings.strip_side)
            self._strip = strip
            keyframes = [{"name": self._hashes[t][0], "frame": t, "sha256": self._hashes[t][1]}
                         for t in sorted(self._styles)]
            steps, rate = self.trainer.steps, self.trainer.learning_rate()
            losses = dict(self.trainer.losses)
        if self.out is not None:
            write_preview(self.out, {f"{self.stems[t]}.png": image for t, image in zip(self.strip_indices,
                                                                                      to_uint8(strip))},
                          {"steps": steps, "strip_frames": list(self.strip_indices),
                           "strip_names": [f"{self.stems[t]}.png" for t in self.strip_indices],
                           "keyframes": keyframes, "refreshed_at": time.time(),
                           "seconds": round(time.monotonic() - self.started, 3),
                           "previous_refresh_s": round(self.refresh_cost, 4), "learning_rate": rate,
                           "losses": losses, "saved": [{"step": st, "path": pa} for st, pa in self.saved]})
        self.trainer.hold(self.clock() - held)  # the learning-rate schedule counts training time only
        self.refreshed_at = time.monotonic()
        self.refresh_cost = self.refreshed_at - began
        self.refresh_total_s += self.refresh_cost
        self.refreshes += 1

    @contextlib.contextmanager
    def _outside(self):
        """The training lock for a caller that is not the training loop: through the turnstile, so the loop,
        which passes it before each step, cannot take the lock again ahead of this caller."""
        with self._turn:
            self._lock.acquire()
        try:
            yield
        finally:
            self._lock.release()

    def _index(self, frame: int | str) -> int:
        if isinstance(frame, int) and 0 <= frame < len(self.names):
            return frame
        if isinstance(frame, str):
            stem = Path(frame).stem
            if stem in self.stems:
                return self.stems.index(stem)
        raise PatchToonError(f"keyframe: expected a frame number from 0 to {len(self.names) - 1} or a frame name "
                             f"({self.names[0]} ... {self.names[-1]}), received {frame!r}.")

