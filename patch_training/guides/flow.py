"""Dense optical flow (OpenCV DIS) between consecutive frames, both directions, with forward-backward confidence."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from ..errors import GuideError

# Measured (`python -m benchmarks.guides_speed`; benchmarks/RESULTS.md): on a textured frame
# translated by (17, -11) px and one rotated by 3 degrees, endpoint error (mean, px) and time per flow, 1 thread:
#   preset       350x350    trans / rot      1920x1080
#   ultrafast     1.4 ms   0.19 / 0.28        22 ms
#   fast          2.4 ms   0.13 / 0.14        39 ms
#   balanced      7.7 ms   0.02 / 0.07       147 ms   (= fast, finest scale 1)
#   medium       10.6 ms   0.02 / 0.06       198 ms
# The finest pyramid scale decides the accuracy of the flow, but not the stylization's: after 120 s of training
# on two real clips (benchmarks/RESULTS.md), guides from 'fast' flow scored as well as from 'balanced' (-0.21 dB
# on one clip, +0.39 dB on the other, the same instability) for a third of the cost, which keeps the guides
# under a quarter of the stylization time at 1080p. So the default is 'fast'; 'balanced' and 'medium' follow
# fine motion more closely for those who want it.
FLOW_PRESETS: dict[str, tuple[int, dict[str, int]]] = {
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, {}),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, {}),
    "balanced": (cv2.DISOPTICAL_FLOW_PRESET_FAST, {"FinestScale": 1}),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, {}),
}


@dataclass(frozen=True)
class FlowField:
    """Optical flow of a T-frame sequence, as T-1 consecutive pairs (numpy, float32), at a working size.

    The arrays live on a working grid of `size` = (h, w), the frame size divided by about `scale` (DIS at
    the 'balanced' preset resolves motion at half resolution anyway, so advecting at half resolution loses
    little and costs a quarter); flows are in working-grid pixels. frame_size = (H, W) of the frames.
    forward[t]: [h, w, 2] (dx, dy) on frame t's grid: pixel p of frame t is at p + forward[t](p) in frame t+1.
    backward[t]: [h, w, 2] on frame t+1's grid: pixel q of frame t+1 is at q + backward[t](q) in frame t.
    forward_confidence[t]: [h, w] 0..1 on frame t's grid: 1 where the pixel stays in frame t+1 and both flows
        agree (forward-backward check), 0 where it is occluded or leaves the frame.
    backward_confidence[t]: [h, w] 0..1, the same on frame t+1's grid (0 = disoccluded in t+1).
    """

    forward: np.ndarray
    backward: np.ndarray
    forward_confidence: np.ndarray
    backward_confidence: np.ndarray
    preset: str
    frame_size: tuple[int, int]

    @property
    def frames(self) -> int:
        return self.forward.shape[0] + 1

    @property
    def size(self) -> tuple[int, int]:
        """(h, w) of the working grid."""
        return self.forward.shape[1], self.forward.shape[2]

    def pair_confidence(self) -> np.ndarray:
        """[T-1] mean forward-backward confidence of each consecutive pair (low: a cut or a failure)."""
        return np.array([pair_confidence(self.forward_confidence[i], self.backward_confidence[i])
                         for i in range(self.frames - 1)], np.float64)

    def to_frame_positions(self, pos: np.ndarray) -> np.ndarray:
        """[h, w, 2] working-grid positions -> [H, W, 2] frame-pixel positions (resampled and rescaled)."""
        (h, w), (fh, fw) = self.size, self.frame_size
        if (h, w) == (fh, fw):
            return pos
        sx, sy = fw / w, fh / h  # pixel centres: x_frame + 0.5 = (x_work + 0.5) * sx (affine: commutes with resize)
        scaled = cv2.transform(pos, np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]], np.float32))
        return cv2.resize(scaled, (fw, fh), interpolation=cv2.INTER_LINEAR)

    def to_frame_map(self, values: np.ndarray) -> np.ndarray:
        """[h, w] or [h, w, c] working-grid values -> frame size (bilinear)."""
        (h, w), (fh, fw) = self.size, self.frame_size
        if (h, w) == (fh, fw):
            return values
        return cv2.resize(values, (fw, fh), interpolation=cv2.INTER_LINEAR)

    def check_matches(self, t: int, h: int, w: int) -> None:
        """Raise GuideError unless this flow was computed for T=t frames of size h x w."""
        if self.frames != t or self.frame_size != (h, w):
            raise GuideError(f"flow: expected the optical flow of these {t} frames of {w}x{h}, received a flow of "
                             f"{self.frames} frames of {self.frame_size[1]}x{self.frame_size[0]}. Compute the "
                             f"flow of these frames (compute_flow(frames)) or pass flow=None.")


def working_size(h: int, w: int, scale: int = 0) -> tuple[int, int]:
    """The working grid of frames h x w: scale 0 = auto (2 when the shorter side is at least 192 px, else 1)."""
    if scale == 0:
        scale = 2 if min(h, w) >= 192 else 1
    return max(1, -(-h // scale)), max(1, -(-w // scale))


def compute_flow(frames, preset: str = "balanced", scale: int = 0,
                 on_progress: Callable[[int, int], None] | None = None) -> FlowField:
    """Forward and backward DIS flow between consecutive frames, with forward-backward confidence.

    frames: [T, H, W, 3] float32 0..1 (torch tensor or numpy array), T >= 2. preset: a FLOW_PRESETS name.
    scale: the working grid is the frame size divided by `scale` (0 = auto, see working_size).
    on_progress(done_pairs, total_pairs) is called after each pair (it may raise to cancel).
    Raises GuideError for fewer than 2 frames or an unknown preset.
    """
    from .inputs import as_numpy_frames

    x = as_numpy_frames(frames)
    if x.shape[0] < 2:
        raise GuideError(f"frames: optical flow needs at least 2 frames, received {x.shape[0]}. "
                         f"A single image has no motion: use guides without flow (edges) or load more frames.")
    if preset not in FLOW_PRESETS:
        raise GuideError(f"flow_preset: expected one of {list(FLOW_PRESETS)}, received {preset!r}.")
    t, fh, fw = x.shape[:3]
    h, w = working_size(fh, fw, scale)
    pairs = PairFlow(preset, h, w)
    fwd = np.empty((t - 1, h, w, 2), np.float32)
    bwd = np.empty((t - 1, h, w, 2), np.float32)
    fconf = np.empty((t - 1, h, w), np.float32)
    bconf = np.empty((t - 1, h, w), np.float32)
    prev = to_gray_u8(x[0])
    for i in range(t - 1):
        nxt = to_gray_u8(x[i + 1])
        fwd[i], bwd[i], fconf[i], bconf[i] = pairs(prev, nxt)
        prev = nxt
        if on_progress is not None:
            on_progress(i + 1, t - 1)
    return FlowField(fwd, bwd, fconf, bconf, preset, (fh, fw))


class PairFlow:
    """The flow of one consecutive pair, as compute_flow computes it (the streamed guides call it pair by pair)."""

    def __init__(self, preset: str, h: int, w: int):
        self.dis, self.h, self.w = make_dis(preset), h, w
        self.grid = pixel_grid(h, w)

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Grey uint8 frames t, t+1 -> forward, backward [h, w, 2], forward, backward confidence [h, w]."""
        fwd = _to_working(self.dis.calc(prev, nxt, None), self.h, self.w)
        bwd = _to_working(self.dis.calc(nxt, prev, None), self.h, self.w)
        return fwd, bwd, consistency(fwd, bwd, self.grid), consistency(bwd, fwd, self.grid)


def pair_confidence(forward_confidence: np.ndarray, backward_confidence: np.ndarray) -> float:
    """Mean forward-backward confidence of one pair (low: a cut or a failure of the flow)."""
    return 0.5 * (float(forward_confidence.mean(dtype=np.float64)) + float(backward_confidence.mean(dtype=np.float64)))


def _to_working(flow: np.ndarray, h: int, w: int) -> np.ndarray:
    fh, fw = flow.shape[:2]
    if (fh, fw) == (h, w):
        return flow
    small = cv2.resize(flow, (w, h), interpolation=cv2.INTER_AREA)
    small[..., 0] *= w / fw
    small[..., 1] *= h / fh
    return small


def make_dis(preset: str):
    code, overrides = FLOW_PRESETS[preset]
    dis = cv2.DISOpticalFlow_create(code)
    for key, value in overrides.items():
        getattr(dis, "set" + key)(value)
    return dis


def to_gray_u8(frame: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def pixel_grid(h: int, w: int) -> np.ndarray:
    """[H, W, 2] float32 (x, y) coordinates of each pixel (cached, read-only: copy before writing)."""
    xs = np.broadcast_to(np.arange(w, dtype=np.float32), (h, w))
    ys = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))
    grid = cv2.merge([np.ascontiguousarray(xs), np.ascontiguousarray(ys)])
    grid.flags.writeable = False
    return grid


def sample(image: np.ndarray, pos: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Bilinear lookup of `image` [H', W', C] at positions `pos` [H, W, 2] (x, y) -> [H, W, C] (or [H, W])."""
    return cv2.remap(image, pos, None, cv2.INTER_LINEAR, borderMode=border)


def sqnorm(v: np.ndarray) -> np.ndarray:
    """Squared length over the last axis (written out: numpy's sum over a short last axis is 20x slower)."""
    out = v[..., 0] * v[..., 0]
    for i in range(1, v.shape[-1]):
        out += v[..., i] * v[..., i]
    return out


def stack(*planes: np.ndarray) -> np.ndarray:
    """[H, W, C] float32 from [H, W] and [H, W, c] arrays (cv2.merge: 4x faster than np.dstack)."""
    parts = []
    for p in planes:
        parts.extend(cv2.split(p) if p.ndim == 3 else [p])
    return cv2.merge(parts)


def inside(pos: np.ndarray, h: int, w: int) -> np.ndarray:
    """[H, W] bool: position lies within a frame of size h x w."""
    return cv2.inRange(pos, (0.0, 0.0), (w - 1.0, h - 1.0)) != 0


def consistency(there: np.ndarray, back: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Confidence 0..1 of flow `there` (on grid A, to B) given `back` (on grid B, to A).

    The forward-backward check of Sundaram et al. 2010: |w + w^| ^ 2 < 0.01 (|w|^2 + |w^|^2) + 0.5, as a soft
    ramp (1 below the threshold, 0 at twice it); pixels that leave the frame get 0.
    """
    h, w = grid.shape[:2]
    pos = grid + there
    back_there = sample(back, pos)
    err = sqnorm(there + back_there)
    thr = 0.01 * (sqnorm(there) + sqnorm(back_there)) + 0.5
    conf = np.clip(2.0 - err / thr, 0.0, 1.0)
    conf[~inside(pos, h, w)] = 0.0
    return conf.astype(np.float32, copy=False)
