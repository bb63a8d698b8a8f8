"""Keyframe suggestion: which frames of a clip an artist should stylize, every shot first, then the changes.

`suggest_keyframes(frames, count, have)` streams the clip once at low resolution and keeps a few hundred
numbers per frame: the shot cuts (the guides' own test, `guides.shots.is_cut`, on the histograms and the
optical flow of consecutive frames), a small thumbnail and a colour histogram (appearance), and three clocks
that advance with the clip: time, accumulated motion (mean optical flow) and accumulated new content (the
share of each frame that the flow cannot trace back to the previous one: what entered the view).

Each frame becomes a point of those features; two frames are close when one, stylized, teaches the network
what the other needs and the guides carry well between them. The choice is a k-median: the keyframes that
minimise the sum over all frames of the distance to their nearest keyframe (a frame in a shot without a
keyframe costs far more than any distance, so shots are covered first, the longest first), found greedily and
then improved by moving one keyframe at a time while that lowers the sum. On a clip that changes at an even
pace it gives evenly spaced keyframes (the middles of K equal parts); where new content enters or the camera
moves far, keyframes move there. Deterministic: the same frames give the same choice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np
import torch

from ..errors import ConfigError, FramesError, KeyframeError
from ..guides.flow import PairFlow, pair_confidence, to_gray_u8
from ..guides.shots import frame_histogram, histogram_distance, is_cut
from ..guides.stream import as_float_frame
from .selection import check_index_syntax, format_indices, parse_indices

log = logging.getLogger(__name__)

WORK_SIDE = 128   # longer side of the working frame (flow, histograms): the features are coarse by design
THUMB = 12        # appearance thumbnail, THUMB x THUMB RGB
MIN_FLOW_SIDE = 16  # smaller working frames get no optical flow (DIS needs a few 8-px patches)
MAX_POINTS = 1500   # frames compared directly; longer clips are sampled evenly (plus every shot's middle)
UNCOVERED = 1e6     # cost of a frame whose shot has no keyframe: more than any distance within a shot
REFINE_ROUNDS = 8


@dataclass(frozen=True)
class SuggestWeights:
    """How much each feature's difference counts in the distance between two frames.

    Measured, on four clips of the ComfyUI media package that the benchmark does not score (benchmarks/suggest.py
    --tune; 1290 frames, models trained on 2 or 3 keyframes): a frame's PSNR falls with its difference from the
    nearest keyframe in thumbnail (about 14.5 dB per unit of RMS difference), colour histogram (14.4 dB per unit
    of Hellinger distance) and accumulated motion (11.5 dB per frame diagonal), little with time (3.5 dB over the
    whole clip) and accumulated new content (0.55 dB per frame's worth: it grows fastest where the flow fails, in
    fast motion, so it counts for little). The weights are those slopes relative to the thumbnail's.
    """

    time: float = 0.25         # position in the clip, 0..1: spreads keyframes where nothing else differs
    motion: float = 0.8        # accumulated mean flow, in working-frame diagonals
    new_content: float = 0.05  # accumulated share of each frame not traced back to the previous frame
    appearance: float = 1.0    # RMS difference of 12x12 thumbnails (0..1)
    colour: float = 1.0        # Hellinger distance of 4x4x4 colour histograms (0..1)


@dataclass
class KeyframeSuggestion:
    """The frames to stylize next, and what the choice saw.

    indices: the suggested frames, 0-based, ascending (never one of `have`); have: the frames already
    stylized, ascending; frame_count: the clip's length; shots: half-open frame ranges (start, end);
    notes: sentences for the user (shots left without a keyframe when count is too small).
    """

    indices: list[int]
    have: list[int]
    frame_count: int
    shots: list[tuple[int, int]]
    notes: list[str] = field(default_factory=list)

    @property
    def keyframes(self) -> list[int]:
        """have and indices together, ascending: every keyframe once the suggested frames are stylized."""
        return sorted(self.have + self.indices)

    @property
    def select_frames(self) -> str:
        """The indices as Select Frames' `indices` input takes them ('3, 17, 29')."""
        return format_indices(self.indices)

    def as_dict(self) -> dict:
        return {"indices": self.indices, "select_frames": self.select_frames, "have": self.have,
                "keyframes": self.keyframes, "frames": self.frame_count, "shots": [list(s) for s in self.shots],
                "notes": self.notes}


@dataclass
class ClipFeatures:
    """Per-frame features of a clip (suggest_keyframes' first pass), [T, ...] numpy arrays."""

    thumbs: np.ndarray       # [T, THUMB*THUMB*3] uint8 (an hour of video at 24 fps: 37 MB)
    colours: np.ndarray      # [T, 64] float16, square roots of the normalised 4x4x4 histograms
    motion: np.ndarray       # [T] accumulated mean flow magnitude, in working-frame diagonals
    new_content: np.ndarray  # [T] accumulated share of pixels not traced back to the previous frame
    shots: list[tuple[int, int]]

    @property
    def frame_count(self) -> int:
        return int(self.thumbs.shape[0])


def check_count(count) -> int:
    """count as an int >= 1, or ConfigError."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ConfigError(f"count: expected how many keyframes to suggest, 1 or more, received {count!r}. "
                          f"Ask for at least one frame.")
    return int(count)


def suggest_keyframes(frames, count: int, have: Sequence[int] | str = (),
                      weights: SuggestWeights = SuggestWeights(),
                      on_progress: Callable[[int, int | None], None] | None = None,
                      frame_count: int | None = None) -> KeyframeSuggestion:
    """The `count` frames to stylize next: every shot covered first, then the clip's changes.

    frames: the clip, [T, H, W, 3] float32 0..1 (a torch tensor or numpy array: ComfyUI's IMAGE), or an
    iterable of [H, W, 3] frames (uint8 or float32 0..1), read once in order and never held (a long video).
    count: how many frames to suggest (>= 1). have: frames already stylized (a list of 0-based numbers, or
    an index string as Select Frames takes: '0, 31', '-1'); they are never suggested, and the suggestion adds
    to them. frame_count: the clip's length if known (progress only). on_progress(done, total or None)
    after each frame read (it may raise to cancel).
    Raises ConfigError (count), FramesError (no frames, one frame, frames of varying size), KeyframeError
    (have: out of range, twice, or leaving fewer than count frames to choose from).
    """
    count = check_count(count)
    if isinstance(have, str):
        if have.strip():
            check_index_syntax(have, "have")
    else:
        have = _int_list(have)
    if isinstance(frames, (torch.Tensor, np.ndarray)):
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise FramesError(f"frames: expected an image batch of shape [T, H, W, 3], received shape "
                              f"{list(frames.shape)}.")
        frame_count = int(frames.shape[0])
    features = clip_features(_frames_of(frames), on_progress, frame_count)
    t = features.frame_count
    have = parse_indices(have, t, "have") if isinstance(have, str) and have.strip() else (
        [] if isinstance(have, str) else _checked_have(have, t))
    if t < 2:
        raise FramesError("frames: a clip of 1 frame has nothing to choose from: that frame is the keyframe. "
                          "Load the whole clip (more than one frame) to get a suggestion.")
    free = t - len(have)
    if count > free:
        already = f", {len(have)} of them already stylized" if have else ""
        raise KeyframeError(f"count: expected at most {free}, the frames left to choose from (the clip has {t} "
                            f"frames{already}), received {count}. Ask for fewer keyframes, or load more frames.")
    chosen, notes = choose(features, count, sorted(have), weights)
    return KeyframeSuggestion(sorted(chosen), sorted(have), t, features.shots, notes)


def clip_features(frames: Iterable[np.ndarray], on_progress: Callable[[int, int | None], None] | None = None,
                  frame_count: int | None = None) -> ClipFeatures:
    """One pass over the frames ([H, W, 3] uint8 or float32 0..1, any number): the features suggest uses.

    Raises FramesError for no frames or frames of different sizes.
    """
    thumbs, colours, motion, new = [], [], [0.0], [0.0]
    bounds = [0]
    size = pairs = prev_gray = prev_hist = None
    t = -1
    for t, frame in enumerate(frames):
        frame = np.asarray(frame)
        if size is None:
            if frame.ndim != 3 or frame.shape[-1] != 3 or min(frame.shape[:2]) < 1:
                raise FramesError(f"frames: expected frames of shape [H, W, 3], received {list(frame.shape)}.")
            size = frame.shape[:2]
            wh, ww = _work_size(*size)
            pairs = PairFlow("fast", wh, ww) if min(wh, ww) >= MIN_FLOW_SIDE else None
            diagonal = float(np.hypot(wh, ww))
        elif frame.shape[:2] != size:
            raise FramesError(f"frames: all frames must have one size; frame {t} is {frame.shape[1]}x"
                              f"{frame.shape[0]}, the first frame is {size[1]}x{size[0]}. Resize the frames "
                              f"to one size.")
        small = _working_frame(frame, wh, ww)
        hist = frame_histogram(small)  # the 8x8x8 histogram of shot-cut detection
        gray = to_gray_u8(small)
        coarse = hist.reshape(4, 2, 4, 2, 4, 2).sum(axis=(1, 3, 5)).ravel()
        colours.append(np.sqrt(coarse / max(float(coarse.sum()), 1e-12)).astype(np.float16))
        thumb = cv2.resize(small, (THUMB, THUMB), interpolation=cv2.INTER_AREA).ravel()
        thumbs.append(np.clip(thumb * 255.0 + 0.5, 0, 255).astype(np.uint8))
        if t > 0:
            confidence, moved, entered = None, 0.0, 0.0
            if pairs is not None:
                fwd, _bwd, fconf, bconf = pairs(prev_gray, gray)
                confidence = pair_confidence(fconf, bconf)
                moved = float(np.sqrt(fwd[..., 0] ** 2 + fwd[..., 1] ** 2).mean(dtype=np.float64)) / diagonal
                entered = 1.0 - float(bconf.mean(dtype=np.float64))
            if is_cut(histogram_distance(prev_hist, hist), confidence):
                bounds.append(t)
                moved = entered = 0.0  # a new shot: the clocks only matter within a shot
            motion.append(motion[-1] + moved)
            new.append(new[-1] + entered)
        prev_gray, prev_hist = gray, hist
        if on_progress is not None:
            on_progress(t + 1, frame_count)
    if t < 0:
        raise FramesError("frames: expected at least one frame, received none. Check the folder or video.")
    bounds.append(t + 1)
    return ClipFeatures(np.stack(thumbs), np.stack(colours), np.array(motion), np.array(new),
                        [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)])


def choose(features: ClipFeatures, count: int, have: list[int],
           weights: SuggestWeights = SuggestWeights()) -> tuple[list[int], list[str]]:
    """The k-median choice of `count` new keyframes given `have`, on the clip's features: (indices, notes)."""
    t = features.frame_count
    points, share = _points(features, count, have)
    shot_of = np.searchsorted([s for s, _ in features.shots], points, side="right") - 1
    dist = _distances(_embedding(features, weights)[points], shot_of)
    position = {int(p): n for n, p in enumerate(points)}
    fixed = [position[h] for h in have]
    chosen: list[int] = []
    for _ in range(count):
        cost = _cost(dist, fixed + chosen)
        gains = _gains(dist, cost, share)
        gains[fixed + chosen] = -np.inf
        chosen.append(int(np.argmax(gains)))  # argmax: the first best, so ties go to the earlier frame
    chosen = _refine(dist, share, fixed, chosen)
    picked = sorted(int(points[c]) for c in chosen)
    covered = {int(shot_of[c]) for c in fixed + chosen}
    missing = [features.shots[s] for s in range(len(features.shots)) if s not in covered]
    notes = []
    if missing:
        spans = ", ".join(f"{a}-{b - 1}" for a, b in missing[:8]) + (", ..." if len(missing) > 8 else "")
        notes.append(f"the clip has {len(features.shots)} shots, {count + len(have)} keyframes cannot cover them "
                     f"all: shots at frames {spans} have none (the longest shots were covered first). Ask for "
                     f"{len(missing)} more to cover every shot.")
    log.info("suggested keyframes %s of %d frames (%d shots, have %s)", picked, t, len(features.shots), have)
    return picked, notes


# ------------------------------------------------------------------------------------------------- internals

def _frames_of(frames):
    if isinstance(frames, torch.Tensor):
        return (f.detach().to("cpu", torch.float32).numpy() for f in frames)
    return iter(frames)


def _int_list(values) -> list[int]:
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise KeyframeError(f"have: expected frame numbers (0-based) of frames already stylized, received "
                            f"{values!r}.") from None


def _checked_have(have: list[int], t: int) -> list[int]:
    bad = [h for h in have if not 0 <= h < t]
    if bad:
        raise KeyframeError(f"have: expected frame numbers from 0 to {t - 1} (the clip has {t} frames), received "
                            f"{bad}. Give the frames already stylized, or load the whole clip.")
    twice = sorted({h for h in have if have.count(h) > 1})
    if twice:
        raise KeyframeError(f"have: each frame may be listed once, received {twice} more than once.")
    return have


def _work_size(h: int, w: int) -> tuple[int, int]:
    scale = min(1.0, WORK_SIDE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def _working_frame(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    """[h, w, 3] float32 0..1: the frame downscaled (area filter; uint8 is resized before conversion)."""
    if frame.shape[:2] != (h, w):
        frame = cv2.resize(np.ascontiguousarray(frame), (w, h), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(as_float_frame(frame), np.float32)


def _embedding(features: ClipFeatures, weights: SuggestWeights) -> np.ndarray:
    """[T, D] float64: Euclidean distances between rows are the frame distances (weighted sum of squares)."""
    t = features.frame_count
    time = np.arange(t, dtype=np.float64) / max(t - 1, 1)
    thumbs = features.thumbs / (255.0 * np.sqrt(features.thumbs.shape[1]))  # distance = RMS difference
    colours = features.colours.astype(np.float64) / np.sqrt(2.0)  # distance = Hellinger distance
    return np.concatenate([weights.time * time[:, None], weights.motion * features.motion[:, None],
                           weights.new_content * features.new_content[:, None], weights.appearance * thumbs,
                           weights.colour * colours], axis=1)


def _points(features: ClipFeatures, count: int, have: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The frames compared (all, or an even sample of a long clip plus shot middles and `have`), and how many
    frames each stands for (the frames of its shot nearest to it in time)."""
    t = features.frame_count
    limit = max(MAX_POINTS, 4 * (count + len(have)))
    if t <= limit:
        return np.arange(t), np.ones(t)
    picked = set(np.linspace(0, t - 1, limit).round().astype(int).tolist()) | set(have)
    picked |= {(a + b - 1) // 2 for a, b in features.shots}
    points = np.array(sorted(picked))
    share = np.zeros(len(points))
    for a, b in features.shots:
        inside = points[(points >= a) & (points < b)]
        mids = np.concatenate([[a], (inside[:-1] + inside[1:] + 1) // 2, [b]])  # each frame to its nearest point
        share[np.searchsorted(points, inside)] = np.diff(mids)
    return points, share


def _distances(x: np.ndarray, shot_of: np.ndarray) -> np.ndarray:
    """[P, P] distances; frames of different shots are UNCOVERED apart (a keyframe covers its own shot)."""
    sq = np.einsum("ij,ij->i", x, x)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0))
    d[shot_of[:, None] != shot_of[None, :]] += UNCOVERED
    return d


def _cost(dist: np.ndarray, keys: list[int]) -> np.ndarray:
    """[P] each frame's distance to its nearest keyframe (2 x UNCOVERED with no keyframe at all)."""
    if not keys:
        return np.full(dist.shape[0], 2 * UNCOVERED)
    return dist[:, keys].min(axis=1)


def _gains(dist: np.ndarray, cost: np.ndarray, share: np.ndarray) -> np.ndarray:
    """[P] how much the summed cost falls when each frame becomes a keyframe."""
    return (share[:, None] * np.maximum(cost[:, None] - dist, 0.0)).sum(axis=0)


def _refine(dist: np.ndarray, share: np.ndarray, fixed: list[int], chosen: list[int]) -> list[int]:
    """Moves one keyframe at a time to the frame that lowers the summed cost most, until none does."""
    chosen = list(chosen)
    for _ in range(REFINE_ROUNDS):
        moved = False
        for n in range(len(chosen)):
            others = fixed + chosen[:n] + chosen[n + 1:]
            cost = _cost(dist, others)
            gains = _gains(dist, cost, share)
            gains[others] = -np.inf
            best = int(np.argmax(gains))
            if gains[best] > gains[chosen[n]] * (1 + 1e-9) + 1e-12:
                chosen[n], moved = best, True
        if not moved:
            break
    return chosen
