"""Streamed guides: the flow, the cuts and the guides of a clip of any length, frame by frame, in bounded memory.

`stream_guides` reads frames one at a time and yields (t, frame, guides) in frame order, computing exactly
what `compute_guides` computes for the whole clip (the same functions, the same order of arithmetic), while
holding only what is still needed:

- the optical flow of a pair is computed when its second frame arrives; a cut is decided on that pair;
- the coordinate maps advected forwards from the last keyframe (or shot start) are computed as frames
  arrive; frames after the last keyframe of the clip are finished at once;
- frames between two keyframes need the later keyframe's backward pass: until it arrives they wait as
  their working-resolution coordinate maps, tracking confidence, forward flow and the frame itself, in a
  `Store` that keeps the first `store_budget_mb` in RAM and the rest in files of a private temporary folder.

So memory does not grow with the clip's length, and the disk holds at most one gap between keyframes.
"""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from ..errors import FramesError, KeyframeError
from .advect import Source, advect, blend, carry, held_confidence, render, share_of_later
from .compute import GuideProgress, advected_names, nearest_keyframe, page_guide, source_image
from .filters import edge_map, pattern_pad, temporal_denoise
from .flow import FlowField, PairFlow, pair_confidence, to_gray_u8, working_size
from .inputs import as_keyframe_images, as_masks, check_keyframe_indices
from .shots import frame_histogram, histogram_distance, is_cut
from .spec import GuideSpec

DEFAULT_STORE_BUDGET_MB = 256  # RAM for frames waiting for their keyframe; beyond it they wait on disk
_NO_END = 1 << 62


class Store:
    """Arrays by key: in RAM up to `budget_bytes`, beyond that in files of a private temporary folder.

    directory: where that folder is made (None: the system's temporary folder, $TMPDIR). close() removes it.
    """

    def __init__(self, budget_bytes: int, directory: str | os.PathLike | None = None):
        self.budget, self.parent = budget_bytes, directory
        self.ram: dict = {}
        self.files: dict = {}
        self.used = 0
        self.folder: str | None = None
        self._names = itertools.count()

    def put(self, key, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        self.pop(key)
        if self.used + array.nbytes <= self.budget:
            self.ram[key] = array
            self.used += array.nbytes
            return
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="patch-toon-guides-", dir=self.parent)
        path = os.path.join(self.folder, f"{next(self._names)}.bin")
        array.tofile(path)
        self.files[key] = (path, array.shape, array.dtype)

    def get(self, key) -> np.ndarray:
        """The array (from RAM: do not write to it)."""
        if key in self.ram:
            return self.ram[key]
        path, shape, dtype = self.files[key]
        return np.fromfile(path, dtype).reshape(shape)

    def pop(self, key) -> None:
        if key in self.ram:
            self.used -= self.ram.pop(key).nbytes
        elif key in self.files:
            os.remove(self.files.pop(key)[0])

    def drop(self, predicate: Callable[[tuple], bool]) -> None:
        for key in [k for k in itertools.chain(self.ram, self.files) if predicate(k)]:
            self.pop(key)

    def close(self) -> None:
        self.ram.clear()
        self.files.clear()
        self.used = 0
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class _Lazy:
    """A sequence of stored arrays indexed like a numpy array's first axis (what FlowField and the filters read)."""

    def __init__(self, store: Store, name: str, shape: tuple, convert: Callable | None = None):
        self.store, self.name, self.shape, self.convert = store, name, shape, convert

    def __getitem__(self, i) -> np.ndarray:
        value = self.store.get((self.name, int(i)))
        return value if self.convert is None else self.convert(value)


def as_float_frame(frame: np.ndarray) -> np.ndarray:
    """[H, W, 3] float32 0..1, converted from uint8 exactly as frames.sources.to_tensor does (same rounding)."""
    if frame.dtype == np.uint8:
        return torch.from_numpy(frame[None]).float().div_(255.0)[0].numpy()
    return np.asarray(frame, np.float32)


def stream_guides(frames: Iterable[np.ndarray], spec: GuideSpec, keyframe_indices, masks=None, keyframes=None,
                  frame_count: int | None = None, on_progress: Callable[[GuideProgress], None] | None = None,
                  store_budget_mb: float = DEFAULT_STORE_BUDGET_MB, scratch: str | os.PathLike | None = None,
                  on_shot: Callable[[int, int], None] | None = None, start: int = 0,
                  sources: dict[int, np.ndarray] | None = None,
                  on_source: Callable[[int, np.ndarray], None] | None = None, guides_from: int = 0,
                  only: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """Yield (t, frame [H, W, 3] float32 0..1, guides [H, W, spec.channels] float32) for t = 0, 1, ... in order.

    frames: the clip's frames one at a time, [H, W, 3] uint8 or float32 0..1 (numpy), any length.
    The guides equal compute_guides(whole clip, spec, keyframe_indices, masks, keyframes)[t]: the same flow,
    cuts, advection and filters, computed as the frames arrive. masks: [K, H, W] (one per keyframe, in the
    order of keyframe_indices) or None; keyframes: the stylized keyframes [K, H, W, 3] (for 'warp').
    frame_count: the clip's length if known (progress, and an early check of the keyframe numbers).
    on_progress(GuideProgress('guides', done, total)) after each frame (it may raise to cancel).
    store_budget_mb: RAM for frames waiting for the next keyframe; scratch: folder for the rest (None: $TMPDIR).
    on_shot(start, end) when a shot (frames start..end-1) is complete, as detect_shots would split the clip.

    A part of the clip (the unit of distribution, segments.py): `frames` begin at frame `start` (numbered from
    there), taken for a shot start; `sources` gives images advected from keyframes ({keyframe: Source.image},
    as on_source received them from a pass over the whole clip), used instead of being made (with gauss_chain
    a keyframe's pattern depends on the keyframes before it). Given the image of the first keyframe a at or
    after start, and start <= a - denoise_radius (or start = 0), the frames from a on have the whole clip's
    guides; from start = 0, all frames do (segments.plan_segments; a law test).
    on_source(keyframe, Source.image) when the image advected from a keyframe is made. guides_from: frames before
    it are yielded with None for their guides, computing only the flow, cuts and advection (a segment's frames
    read before its own; beyond the clip: a first pass, segments.survey).
    only: yield only these frames (training wants the keyframes and a preview); the others are still followed
    (flow, cuts, advection) but not rendered.
    Raises FramesError, KeyframeError, MaskError or GuideError with the input named.
    """
    job = _Stream(spec, keyframe_indices, masks, keyframes, frame_count, on_progress,
                  Store(int(store_budget_mb * 2 ** 20), scratch), on_shot, start, sources or {}, on_source,
                  guides_from)
    job.only = None if only is None else {int(t) for t in only}
    try:
        yield from job.run(frames)
    finally:
        job.store.close()


class _Stream:
    def __init__(self, spec, keyframe_indices, masks, keyframes, frame_count, on_progress, store, on_shot,
                 start=0, sources=None, on_source=None, guides_from=0):
        if not isinstance(spec, GuideSpec):
            raise KeyframeError(f"spec: expected a GuideSpec, received {type(spec).__name__}.")
        self.spec, self.on_progress, self.store, self.frame_count = spec, on_progress, store, frame_count
        self.on_shot, self.start, self.given, self.on_source = on_shot, start, sources or {}, on_source
        self.guides_from = guides_from
        self.keys = check_keyframe_indices(keyframe_indices, _NO_END if frame_count is None else frame_count)
        self.key_set = set(self.keys)
        self.raw_masks, self.raw_styles = masks, keyframes
        self.names = advected_names(spec)
        self.radius = spec.denoise_radius if "denoise" in spec.guides else 0
        self.cuts = spec.detect_cuts and spec.needs_flow

    # --- setup on the first frame ---------------------------------------------------------------------------
    def _start(self, frame: np.ndarray) -> None:
        if frame.ndim != 3 or frame.shape[-1] != 3:
            raise FramesError(f"frames: expected frames of shape [H, W, 3], received {list(frame.shape)}.")
        self.h, self.w = frame.shape[:2]
        self.masks = as_masks(self.raw_masks, self.keys, len(self.keys), self.h, self.w)
        self.styles, self.page = None, None
        if self.spec.needs_keyframe_images:
            styles = as_keyframe_images(self.raw_styles, self.keys, self.h, self.w)
            self.styles = {i: styles[n] for n, i in enumerate(self.keys)}
        wh, ww = working_size(self.h, self.w, self.spec.flow_scale)
        store = self.store
        self.frames = _Lazy(store, "x", (_NO_END, self.h, self.w, 3), as_float_frame)
        self.flow = FlowField(_Lazy(store, "fwd", (_NO_END, wh, ww, 2)), _Lazy(store, "bwd", (_NO_END, wh, ww, 2)),
                              _Lazy(store, "fconf", (_NO_END, wh, ww)), _Lazy(store, "bconf", (_NO_END, wh, ww)),
                              self.spec.flow_preset, (self.h, self.w))
        self.pairs = PairFlow(self.spec.flow_preset, wh, ww) if self.spec.needs_flow else None
        self.sources: dict[int, object] = {}   # keyframe -> Source (those still referenced)
        self.recipes: dict[int, tuple] = {}    # frame -> how its advected guides are rendered
        self.shot_start = self.shot_closed = self.start  # frames before shot_closed belong to finished shots
        self.shot_of: dict[int, tuple[int, int]] = {}
        self.anchor: tuple[str, int] = ("start", self.start)
        self.live = None
        self.next_emit = self.kept_from = self.start
        self.last_key_passed: int | None = None

    # --- the main loop -----------------------------------------------------------------------------------------
    def run(self, frames: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        t = self.start - 1
        prev_gray = prev_hist = None
        for t, frame in enumerate(frames, self.start):
            frame = np.asarray(frame)
            if t == self.start:
                self._start(frame)
            elif frame.shape != (self.h, self.w, 3):
                raise FramesError(f"frames: all frames must have one size; frame {t} is {frame.shape[1]}x"
                                  f"{frame.shape[0]}, the first frame is {self.w}x{self.h}. Resize them to one size.")
            self.store.put(("x", t), frame)
            x = as_float_frame(frame)
            gray = to_gray_u8(x) if self.pairs is not None else None
            hist = frame_histogram(x) if self.cuts else None
            cut = False
            if t > self.start and self.pairs is not None:
                fwd, bwd, fconf, bconf = self.pairs(prev_gray, gray)
                for name, value in (("fwd", fwd), ("bwd", bwd), ("fconf", fconf), ("bconf", bconf)):
                    self.store.put((name, t - 1), value)
                cut = self.cuts and is_cut(histogram_distance(prev_hist, hist), pair_confidence(fconf, bconf))
            prev_gray, prev_hist = gray, hist
            if t == self.start or cut:
                if cut:
                    self._close_shot(t)
                self.shot_start = t
                self._set_anchor("start", t)
            else:
                self._advance(t)
            if t in self.key_set:
                self._keyframe(t)
            elif self.names and not any(k > t for k in self.keys):
                self._resolve_forward(t + 1)
            elif not self.names:
                self.recipes[t] = ("none",)
            yield from self._emit(t, final=False)
        if t < self.start:
            raise FramesError("frames: expected at least one frame, received none.")
        late = [k for k in self.keys if k > t]
        if late:
            raise KeyframeError(f"keyframe_indices: expected frame numbers from 0 to {t} (the video has {t + 1} "
                                f"frames), received {late}. Pick keyframes from the clip's frames.")
        self._close_shot(t + 1)
        yield from self._emit(t, final=True)

    # --- advection ---------------------------------------------------------------------------------------------
    def _set_anchor(self, kind: str, index: int) -> None:
        self.anchor = (kind, index)
        self.live = None
        if self.names and self.pairs is not None:
            self.live = advect(self.flow, index, _NO_END)
            next(self.live)  # the anchor itself: the grid

    def _advance(self, t: int) -> None:
        """One step of the live forward advection: frame t's coordinates from the anchor, kept until resolved."""
        if self.live is None:
            return
        step, coords, conf = next(self.live)
        assert step == t
        self.store.put(("ca", t), coords)
        self.store.put(("ha", t), held_confidence(conf))

    def _source(self, k: int, gauss: np.ndarray | None = None):
        pad = pattern_pad(self.h, self.w)
        if k in self.given:
            return Source(k, np.ascontiguousarray(self.given[k], np.float32), pad)
        mask = None if self.masks is None else self.masks[k]
        style = None if self.styles is None else self.styles[k]
        source = source_image(self.spec, self.names, self.h, self.w, k, mask, style, gauss)
        if self.on_source is not None:
            self.on_source(k, source.image)
        return source

    def _keyframe(self, k: int) -> None:
        kind, a = self.anchor
        if not self.names:
            self.recipes[k] = ("none",)
        else:
            inherit = None
            if (kind == "key" and k not in self.given and self.spec.gauss_chain and "gauss" in self.names
                    and self.live is not None):
                g = 3 * self.names.index("gauss")
                positions = self.flow.to_frame_positions(self.store.get(("ca", k)))
                inherit = carry(self.sources[a], positions, k).image[..., g:g + 3]
            self.sources[k] = self._source(k, inherit)
            if kind == "key":   # frames a+1..k-1 blend the forward pass from a with the backward pass from k
                for t, coords, conf in advect(self.flow, k, a + 1):
                    if t != k:
                        self.store.put(("cb", t), coords)
                        self.store.put(("al", t), share_of_later(self.store.get(("ha", t)), conf, t, a, k))
                        self.recipes[t] = ("merge", a, k, t)
            elif a < k:         # frames from the shot's start to its first keyframe: the backward pass alone
                for t, coords, _ in advect(self.flow, k, a):
                    if t != k:
                        self.store.put(("cb", t), coords)
                        self.recipes[t] = ("render", k, "cb", t)
            self.recipes[k] = ("crop", k)
        self.last_key_passed = k
        # The forward pass's confidences are used up; its maps are still read by the frames that blend.
        self.store.drop(lambda key: (key[0] == "ha" and key[1] <= k) or (key[0] == "ca" and key[1] == k)
                        or (key[0] == "ca" and kind == "start" and a < key[1] < k))
        self._set_anchor("key", k)

    def _resolve_forward(self, stop: int) -> None:
        """Frames after the anchor up to stop-1, when no later keyframe can change them: the forward pass alone."""
        kind, a = self.anchor
        if kind == "key":
            source = a
        else:  # a shot without keyframe, and none ahead: the latest keyframe before it lends its images
            source = self._borrow(a, _NO_END)
            self.recipes.setdefault(a, ("crop", source))
        for t in range(a + 1, stop):
            if t not in self.recipes:
                self.recipes[t] = ("render", source, "ca", t)

    def _borrow(self, start: int, end: int) -> int:
        k = nearest_keyframe(self.keys, start, end)
        if k not in self.sources:  # the first keyframe of a later shot: its own pattern, nothing inherited
            self.sources[k] = self._source(k)
        return k

    def _close_shot(self, end: int) -> None:
        start = self.shot_start
        if self.names:
            kind, a = self.anchor
            if kind == "start":
                source = self._borrow(a, end)
                self.recipes.setdefault(a, ("crop", source))
                a_source = source
            else:
                a_source = a
            for t in range(a + 1, end):
                if t not in self.recipes:
                    self.recipes[t] = ("render", a_source, "ca", t)
        else:
            for t in range(start, end):
                self.recipes.setdefault(t, ("none",))
        for t in range(start, end):
            self.shot_of[t] = (start, end)
        self.shot_closed = end
        if self.on_shot is not None:
            self.on_shot(start, end)

    # --- output ------------------------------------------------------------------------------------------------
    def _emit(self, last_read: int, final: bool) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        while self.next_emit in self.recipes:
            t = self.next_emit
            if not (final or t < self.shot_closed or t + self.radius <= last_read):
                return
            start, end = self.shot_of.get(t, (self.shot_start, last_read + 1))
            if self.only is None or t in self.only:
                yield t, self.frames[t], self._guides(t, start, end) if t >= self.guides_from else None
            self.next_emit = t + 1
            del self.recipes[t]
            self.shot_of.pop(t, None)
            self._forget(t)
            if self.on_progress is not None:
                self.on_progress(GuideProgress("guides", t + 1, max(self.frame_count or 0, t + 1)))

    def _guides(self, t: int, start: int, end: int) -> np.ndarray:
        spec = self.spec
        out = np.empty((self.h, self.w, spec.channels), np.float32)
        x = self.frames[t]
        for name, a, b in spec.layout:
            if name == "edges":
                out[..., a:b] = edge_map(x, spec.edge_sigma)
            elif name == "denoise":  # a one-frame clip comes out as the frame itself, as in compute_guides
                out[..., a:b] = temporal_denoise(self.frames, self.flow, t, start, end, spec.denoise_radius,
                                                 spec.denoise_sigma)
            elif name == "page":  # the same for every frame
                if self.page is None:
                    self.page = page_guide(self.styles)
                out[..., a:b] = self.page
        if self.names:
            image = self._render(self.recipes[t])
            c = 0
            for name, a, b in spec.layout:
                if name in ("gauss", "warp"):
                    out[..., a:b] = image[..., c:c + b - a]
                    c += b - a
        return out

    def _render(self, recipe: tuple) -> np.ndarray:
        kind = recipe[0]
        if kind == "crop":
            return self.sources[recipe[1]].crop()
        if kind == "render":
            _, k, key, t = recipe
            return render(self.sources[k], self.flow.to_frame_positions(self.store.get((key, t))))
        _, a, b, t = recipe
        from_a = render(self.sources[a], self.flow.to_frame_positions(self.store.get(("ca", t))))
        from_b = render(self.sources[b], self.flow.to_frame_positions(self.store.get(("cb", t))))
        return blend(self.flow, from_a, from_b, self.store.get(("al", t)))

    def _forget(self, t: int) -> None:
        """Drop what no later frame needs: frame t's maps, and frames and flow beyond the denoise radius."""
        for name in ("ca", "ha", "cb", "al"):
            self.store.pop((name, t))  # a no-op for maps frame t never had
        keep = min(list(self.recipes) + [self.anchor[1], t + 1]) - self.radius
        for i in range(self.kept_from, keep):
            for name in ("x", "fwd", "bwd", "fconf", "bconf"):
                self.store.pop((name, i))
        self.kept_from = max(self.kept_from, keep)
        wanted = {r[1] for r in self.recipes.values() if len(r) > 1} | {
            r[2] for r in self.recipes.values() if r[0] == "merge"}
        wanted |= {self.anchor[1], self.last_key_passed}
        for k in [k for k in self.sources if k not in wanted]:
            del self.sources[k]
