"""Guide computation for a whole clip (inference) and at the keyframes (training), computed identically."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import cv2
import numpy as np
import torch

from ..errors import GuideError
from .advect import Sink, Source, advect, carry, merge_shot
from .filters import edge_map, gauss_pattern, page_map, pattern_pad, temporal_denoise
from .flow import FlowField, compute_flow, working_size
from .inputs import as_keyframe_images, as_masks, as_numpy_frames, check_keyframe_indices
from .shots import detect_shots, shot_coverage
from .spec import GuideSpec


@dataclass(frozen=True)
class GuideProgress:
    """stage: 'flow' or 'guides'; done of total units (frame pairs for flow, frames for guides)."""

    stage: str
    done: int
    total: int

    def as_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[GuideProgress], None]


def compute_guides(frames, spec: GuideSpec, keyframe_indices, masks=None, keyframes=None,
                   flow: FlowField | None = None, shots: list[tuple[int, int]] | None = None,
                   on_progress: ProgressCallback | None = None) -> torch.Tensor:
    """Guides of every frame, for inference: [T, H, W, spec.channels] float32 0..1 (CPU), channels in spec.layout.

    frames: [T, H, W, 3] float32 0..1. keyframe_indices: the frames the style was painted on (any order).
    masks: [K, H, W] or [T, H, W] 0..1 (1 = valid style), used to place the Gaussian blobs; None = whole frame.
    keyframes: the stylized keyframes [K, H, W, 3], in the order of keyframe_indices (only for 'warp').
    flow: compute_flow(frames, spec.flow_preset, spec.flow_scale), computed here when None (if a guide needs it).
    shots: half-open frame ranges (detect_shots), detected here when None (and spec.detect_cuts).
    on_progress(GuideProgress) after each flow pair and each guide frame; it may raise to cancel.

    A one-frame clip is allowed: it must be the keyframe, its gauss guide is the keyframe's static pattern,
    denoise is the frame itself, warp the keyframe's stylization. Guides never cross a shot cut; a shot
    without keyframe borrows the nearest keyframe's pattern (and stylization) from its first frame on.
    Raises FramesError, KeyframeError, MaskError or GuideError with the input named.
    """
    job = _Job(frames, spec, keyframe_indices, masks, keyframes, flow, shots, on_progress)
    out = np.empty(job.x.shape[:3] + (spec.channels,), np.float32)
    job.fill(out, list(range(job.t)), leave_one_out=False, progress=job.counter(job.t))
    return torch.from_numpy(out)


def training_guides(frames, spec: GuideSpec, keyframe_indices, masks=None, keyframes=None,
                    flow: FlowField | None = None, shots: list[tuple[int, int]] | None = None,
                    on_progress: ProgressCallback | None = None) -> torch.Tensor:
    """Guides at the keyframes, for training: [K, H, W, spec.channels], row k for keyframe_indices[k].

    Same arguments and same computation as compute_guides, so that for every guide but 'warp' the result
    equals compute_guides(...)[keyframe_indices]. 'warp' is computed leave-one-out: the guide of keyframe A
    is what compute_guides would give at A without A among the keyframes (the other keyframes' stylizations
    warped to A), so the network learns to correct warping errors rather than to copy its input. 'warp'
    therefore needs at least two keyframes (GuideError otherwise).
    """
    job = _Job(frames, spec, keyframe_indices, masks, keyframes, flow, shots, on_progress)
    out = np.empty((len(job.indices),) + job.x.shape[1:3] + (spec.channels,), np.float32)
    job.fill(out, job.indices, leave_one_out=True, progress=job.counter(len(job.indices)))
    return torch.from_numpy(out)


class _Job:
    """Checked inputs plus the shared pieces (flow, shots, patterns) of one guide computation."""

    def __init__(self, frames, spec, keyframe_indices, masks, keyframes, flow, shots, on_progress):
        if not isinstance(spec, GuideSpec):
            raise GuideError(f"spec: expected a GuideSpec, received {type(spec).__name__}.")
        self.spec, self.on_progress = spec, on_progress
        self.x = as_numpy_frames(frames)
        self.t, self.h, self.w = self.x.shape[:3]
        self.indices = check_keyframe_indices(keyframe_indices, self.t)
        self.masks = as_masks(masks, self.indices, self.t, self.h, self.w)
        self.styles = None
        if spec.needs_keyframe_images:
            styles = as_keyframe_images(keyframes, self.indices, self.h, self.w)
            self.styles = {i: styles[n] for n, i in enumerate(self.indices)}
        self.flow = flow
        if flow is not None:
            flow.check_matches(self.t, self.h, self.w)
            if (flow.preset, flow.size) != (spec.flow_preset, working_size(self.h, self.w, spec.flow_scale)):
                raise GuideError(f"flow: computed with preset {flow.preset!r} on a {flow.size[1]}x{flow.size[0]} "
                                 f"grid, but the guide spec asks for preset {spec.flow_preset!r}, flow_scale "
                                 f"{spec.flow_scale}: the guides would differ from the model's. Use "
                                 f"compute_flow(frames, spec.flow_preset, spec.flow_scale), or flow=None.")
        elif spec.needs_flow and self.t > 1:
            report = None if on_progress is None else (lambda d, n: on_progress(GuideProgress("flow", d, n)))
            self.flow = compute_flow(self.x, spec.flow_preset, spec.flow_scale, report)
        if shots is None:  # cuts only matter to the guides that follow the flow
            cut = spec.detect_cuts and spec.needs_flow
            shots = detect_shots(self.x, self.flow) if cut else [(0, self.t)]
        self.shots = _check_shots(shots, self.t)
        self.coverage = shot_coverage(self.shots, self.indices)
        self._sources: dict[int, Source] | None = None
        self._pages: dict[int | None, np.ndarray] = {}

    def counter(self, frames: int) -> "_Counter":
        """Progress over `frames` frames: one unit per frame for each of edges, denoise, advection."""
        passes = sum(n in ("edges", "denoise") for n in self.spec.guides) + any(
            n in ("gauss", "warp") for n in self.spec.guides)
        return _Counter(self.on_progress, frames * passes)

    def fill(self, out: np.ndarray, targets: list[int], leave_one_out: bool, progress: "_Counter") -> None:
        """Write the guides of frames `targets` into out[row] (row = position of the frame in targets)."""
        row = {t: r for r, t in enumerate(targets)}
        # gauss and warp share the advection: one pass renders both.
        advected = [(n, a, b) for n, a, b in self.spec.layout if n in ("gauss", "warp")]
        for name, a, b in self.spec.layout:
            if name == "edges":
                for t in targets:
                    out[row[t], ..., a:b] = edge_map(self.x[t], self.spec.edge_sigma)
                    progress.add(1)
            elif name == "denoise":
                for t in targets:
                    start, end = self._shot_of(t)
                    out[row[t], ..., a:b] = (self.x[t] if self.flow is None else temporal_denoise(
                        self.x, self.flow, t, start, end, self.spec.denoise_radius, self.spec.denoise_sigma))
                    progress.add(1)
            elif name == "page":
                for t in targets:
                    out[row[t], ..., a:b] = self._page(t if leave_one_out else None)
        if advected:
            sink = Sink(lambda t: [out[row[t], ..., a:b] for _, a, b in advected])
            names = [n for n, _, _ in advected]
            self._advect(names, sink, targets, leave_one_out and "warp" in names, progress)

    def _advect(self, names: list[str], sink: Sink, targets: list[int], leave_one_out: bool,
                progress: "_Counter") -> None:
        if self._sources is None:
            self._sources = self._keyframe_sources(names)
        patterns = self._sources
        if leave_one_out:
            if len(self.indices) < 2:
                raise GuideError("guides: the 'warp' guide is trained on another keyframe warped to each "
                                 f"keyframe, so it needs at least two keyframes; received one "
                                 f"({self.indices}). Add a keyframe, or drop 'warp' from the guides.")
            for t in targets:  # gauss from all keyframes (t's own pattern), warp from the others
                others = [i for i in self.indices if i != t]
                own = self._merge(names, {i: patterns[i] for i in others}, {t})
                if "gauss" in names:
                    g = 3 * names.index("gauss")
                    own[..., g:g + 3] = patterns[t].crop()[..., g:g + 3]
                sink.put(t, own)
                progress.add(1)
            return
        for start, end in self.shots:
            want = {t for t in targets if start <= t < end}
            if want:
                self._merge_into(sink, start, end, patterns, want)
                progress.add(len(want))

    def _merge(self, names, patterns: dict[int, Source], frames: set[int]) -> np.ndarray:
        (t,) = frames
        start, end = self._shot_of(t)
        c = patterns[next(iter(patterns))].image.shape[-1]
        buf = np.empty((1, self.h, self.w, c), np.float32)
        self._merge_into(Sink(lambda _t: [buf[0]]), start, end, patterns, frames)
        return buf[0]

    def _merge_into(self, sink: Sink, start: int, end: int, patterns: dict[int, Source], want: set[int]):
        keys = sorted(i for i in patterns if start <= i < end)
        if keys:
            sources = [patterns[i] for i in keys]
        else:  # a shot without keyframe: the nearest keyframe's images, placed at the shot's first frame
            nearest = nearest_keyframe(patterns, start, end)
            sources = [Source(start, patterns[nearest].image, patterns[nearest].pad)]
        merge_shot(self.flow, start, end, sources, sink, want)

    def _keyframe_sources(self, names: list[str]) -> dict[int, Source]:
        """The image advected from each keyframe: gauss pattern and/or stylization, concatenated, padded."""
        chain = self.spec.gauss_chain and "gauss" in names and self.flow is not None
        sources: dict[int, Source] = {}
        for start, end in self.shots:
            prev = None
            for i in sorted(k for k in self.indices if start <= k < end):
                inherit = None
                if chain and prev is not None:
                    for _, coords, _ in advect(self.flow, prev.index, i):
                        pass
                    g = 3 * names.index("gauss")
                    inherit = carry(prev, self.flow.to_frame_positions(coords), i).image[..., g:g + 3]
                sources[i] = prev = self._source_image(names, i, inherit)
        return sources

    def _source_image(self, names: list[str], i: int, gauss: np.ndarray | None) -> Source:
        return source_image(self.spec, names, self.h, self.w, i, None if self.masks is None else self.masks[i],
                            None if self.styles is None else self.styles[i], gauss)

    def _page(self, keyframe: int | None) -> np.ndarray:
        """The page guide: left-one-out at `keyframe` (training), else the one of every frame (inference)."""
        if keyframe not in self._pages:
            self._pages[keyframe] = page_guide(self.styles, keyframe)
        return self._pages[keyframe]

    def _shot_of(self, t: int) -> tuple[int, int]:
        return next((s, e) for s, e in self.shots if s <= t < e)


def advected_names(spec: GuideSpec) -> list[str]:
    """The guides carried along the flow from the keyframes (they share one advection), in channel order."""
    return [n for n, _, _ in spec.layout if n in ("gauss", "warp")]


def source_image(spec: GuideSpec, names: list[str], h: int, w: int, i: int, mask: np.ndarray | None,
                 style: np.ndarray | None, gauss: np.ndarray | None) -> Source:
    """The image advected from keyframe i: its gauss pattern (or `gauss`, inherited along the chain) and/or
    its stylization `style`, concatenated in the order of `names`, with pattern_pad pixels of context."""
    pad = pattern_pad(h, w)
    parts = []
    for name in names:
        if name == "gauss":
            parts.append(gauss if gauss is not None else gauss_pattern(
                h, w, spec.gauss_blobs, spec.gauss_radius, spec.seed, i, mask, pad))
        else:  # the stylization knows nothing beyond the frame: mirror it
            parts.append(cv2.copyMakeBorder(style, pad, pad, pad, pad, cv2.BORDER_REFLECT_101))
    return Source(i, np.ascontiguousarray(np.concatenate(parts, axis=-1)), pad)


def page_guide(styles: dict[int, np.ndarray], keyframe: int | None = None) -> np.ndarray:
    """The 'page' guide [H, W, 3] from the stylized keyframes {frame index: [H, W, 3]} (filters.page_map), the
    keyframe at frame `keyframe` left out (training rows), or for every other frame (None). Raises GuideError
    for fewer than two keyframes."""
    keys = sorted(styles)
    if len(keys) < 2:
        raise GuideError("guides: the 'page' guide is trained on what the other keyframes show at each pixel, so "
                         f"it needs at least two keyframes; received one ({keys}). Add a keyframe, or drop 'page' "
                         "from the guides.")
    return page_map(np.stack([styles[i] for i in keys]), None if keyframe is None else keys.index(keyframe))


def nearest_keyframe(keyframes, start: int, end: int) -> int:
    """The keyframe whose images a shot start..end-1 without keyframes borrows: nearest to either end of the
    shot, the earlier one on a tie."""
    return min(keyframes, key=lambda i: (min(abs(i - start), abs(i - (end - 1))), i))


class _Counter:
    def __init__(self, on_progress: ProgressCallback | None, total: int):
        self.on_progress, self.total, self.done = on_progress, total, 0

    def add(self, n: int) -> None:
        self.done += n
        if self.on_progress is not None:
            self.on_progress(GuideProgress("guides", self.done, self.total))


def _check_shots(shots, t: int) -> list[tuple[int, int]]:
    shots = [(int(s), int(e)) for s, e in shots]
    ok = bool(shots) and shots[0][0] == 0 and shots[-1][1] == t and all(
        s < e for s, e in shots) and all(shots[i][1] == shots[i + 1][0] for i in range(len(shots) - 1))
    if not ok:
        raise GuideError(f"shots: expected consecutive half-open frame ranges covering 0..{t} (as detect_shots "
                         f"returns), received {shots}.")
    return shots
