"""Shot cuts: where a clip jumps to another shot, so that guides are never advected across the cut."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from .flow import FlowField

log = logging.getLogger(__name__)

# A cut is a pair of consecutive frames whose colour histograms differ strongly, or differ moderately while
# the optical flow fails its forward-backward check over most of the frame. Histogram distance is the
# Bhattacharyya distance (0 same, 1 disjoint) of 8x8x8 RGB histograms of 64x64 thumbnails.
HIST_CUT = 0.55        # alone enough for a cut
HIST_SUSPECT = 0.2     # a cut when the flow also collapses
FLOW_COLLAPSE = 0.35   # mean forward-backward confidence below which the flow found no common content


@dataclass(frozen=True)
class ShotInfo:
    """One shot, frames start..end-1, and the keyframes that lie in it."""

    start: int
    end: int
    keyframes: tuple[int, ...]

    def describe(self) -> str:
        span = f"frames {self.start}-{self.end - 1}"
        if not self.keyframes:
            return f"{span}: no keyframe (guides are borrowed from the nearest keyframe; stylize this shot " \
                   f"from its own keyframe for a faithful result)"
        return f"{span}: keyframes {list(self.keyframes)}"


def frame_histogram(frame: np.ndarray) -> np.ndarray:
    """The colour histogram that cut detection compares: 8x8x8 RGB bins of a 64x64 thumbnail."""
    thumb = cv2.resize(frame, (64, 64), interpolation=cv2.INTER_AREA)
    return cv2.calcHist([np.clip(thumb, 0, 1)], [0, 1, 2], None, [8, 8, 8], [0, 1.0001] * 3)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance of two frame_histogram()s, 0 (same) .. 1 (disjoint)."""
    return float(np.float32(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA)))


def is_cut(distance: float, confidence: float | None) -> bool:
    """A cut between two frames: their histogram distance, and the pair's flow confidence (None: no flow)."""
    return distance > HIST_CUT or (confidence is not None and distance > HIST_SUSPECT and confidence < FLOW_COLLAPSE)


def histogram_distances(frames: np.ndarray) -> np.ndarray:
    """[T-1] Bhattacharyya distance between the colour histograms of consecutive frames (0..1)."""
    hists = [frame_histogram(f) for f in frames]
    return np.array([histogram_distance(hists[i], hists[i + 1]) for i in range(len(hists) - 1)], np.float32)


def detect_shots(frames, flow: FlowField | None = None) -> list[tuple[int, int]]:
    """Split the sequence at hard cuts: a list of half-open frame ranges (start, end), covering 0..T.

    frames: [T, H, W, 3] float32 0..1 (torch or numpy). flow: the sequence's FlowField, or None to decide
    on colour histograms alone (then only strong colour jumps count as cuts). T = 1 gives [(0, 1)].
    """
    from .inputs import as_numpy_frames

    x = as_numpy_frames(frames)
    t = x.shape[0]
    if flow is not None:
        flow.check_matches(t, *x.shape[1:3])
    if t < 2:
        return [(0, t)]
    hist = histogram_distances(x)
    confidence = [None] * (t - 1) if flow is None else flow.pair_confidence()
    bounds = [0] + [i + 1 for i in range(t - 1) if is_cut(float(hist[i]), confidence[i])] + [t]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def shot_coverage(shots: list[tuple[int, int]], keyframe_indices) -> list[ShotInfo]:
    """Which keyframes lie in each shot; logs a warning for each shot with none."""
    out = []
    for start, end in shots:
        keys = tuple(sorted(int(k) for k in keyframe_indices if start <= int(k) < end))
        info = ShotInfo(start, end, keys)
        if not keys:
            log.warning("shot %s", info.describe())
        out.append(info)
    return out
