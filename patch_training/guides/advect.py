"""Advection: carry images placed at source frames along the optical flow, and merge the sources of a shot.

Positions, not pixels, are advected: for each pixel of frame t we track where it was in the source frame
(a coordinate map, composed with the flow step by step), and render the source's image at those positions.
Repeated bilinear resampling would blur the image a little more at every frame; the coordinate map is smooth,
so resampling it costs almost nothing, and the rendered guide stays as sharp as the source.

Pixels entering through the frame border extrapolate their neighbours' offsets into the source's padding;
pixels that the flow's forward-backward check rejects inside the frame (disocclusions) take offsets filled in
from their valid neighbours (push-pull). Either way the pattern continues smoothly into them, and from then
on they are advected like any other pixel: nothing pops. Their confidence stays 0, so where another source
(the next keyframe) sees them, that source wins the merge.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np

from .flow import FlowField, inside, pixel_grid, sample, stack

# Weight of a zero-confidence source in the merge relative to a fully confident one: regions no source saw
# still blend smoothly in time instead of snapping to one source.
LOW_CONFIDENCE_WEIGHT = 0.05
# Width of the frame border band (fraction of the shorter side) where a failed flow check is put down to
# content entering the frame rather than to an occlusion.
BORDER_BAND = 0.03
# Box blur (fraction of the longer side) of the confidence maps before merging two sources: where one source
# loses track (the frame border it entered through, a disocclusion) the merge fades over a few pixels
# instead of drawing a seam.
MERGE_SMOOTH = 0.01


@dataclass
class Source:
    """An image pinned to frame `index`, to be advected through its shot.

    image: [H + 2 pad, W + 2 pad, C], the frame-sized image with `pad` pixels of context on every side, so
    that content entering the frame continues the image instead of mirroring or stretching its border.
    """

    index: int
    image: np.ndarray
    pad: int = 0

    def crop(self) -> np.ndarray:
        p = self.pad
        return self.image[p:self.image.shape[0] - p, p:self.image.shape[1] - p]


def fill_invalid(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Push-pull fill: `values` [H, W, C] kept where weight [H, W] is 1, smoothly filled from neighbours at 0."""
    h, w, c = values.shape
    level = stack((values * weight[..., None]).astype(np.float32, copy=False), weight.astype(np.float32))
    pyramid = [level]
    while min(level.shape[:2]) > 4:
        level = cv2.pyrDown(level)
        pyramid.append(level)
    coarse = pyramid[-1]
    wsum = coarse[..., c:].sum()
    est = (coarse[..., :c].sum(axis=(0, 1)) / wsum if wsum > 1e-6 else np.zeros(c, np.float32))
    est = np.broadcast_to(est, coarse.shape[:2] + (c,)).astype(np.float32)
    for level in reversed(pyramid):
        if est.shape[:2] != level.shape[:2]:
            est = cv2.pyrUp(est, dstsize=(level.shape[1], level.shape[0]))
            if est.ndim == 2:
                est = est[..., None]
        lw = np.clip(level[..., c:], 0.0, 1.0)
        est = level[..., :c] + (1.0 - lw) * est
    return est


def advect(flow: FlowField, source: int, stop: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (t, coords [h, w, 2], confidence [h, w]) for t = source, ..., stop (either direction).

    On the flow's working grid (flow.size; flow.to_frame_positions(coords) gives frame pixels).
    coords[t](q): position in the source frame of pixel q of frame t. confidence: 1 where the pixel was
    tracked from the source without a failed forward-backward check, 0 where it was filled in.
    """
    h, w = flow.size
    grid = pixel_grid(h, w)
    # State: offset = coords - grid. Looking it up beyond the frame border (replicated) extrapolates the
    # coordinates linearly, which is exact for a translation: pixels entering the frame continue the pattern
    # instead of stretching its border.
    offset, conf = np.zeros((h, w, 2), np.float32), np.ones((h, w), np.float32)
    border = np.zeros((h, w), np.float32)
    band = max(2, round(BORDER_BAND * min(h, w)))
    border[:band], border[-band:], border[:, :band], border[:, -band:] = 1.0, 1.0, 1.0, 1.0
    yield source, grid, conf
    step = 1 if stop >= source else -1
    for t in range(source + step, stop + step, step):
        if step > 0:  # pixel q of t was at q + backward[t-1](q) in t-1
            move, check = flow.backward[t - 1], flow.backward_confidence[t - 1]
        else:         # pixel q of t was at q + forward[t](q) in t+1
            move, check = flow.forward[t], flow.forward_confidence[t]
        pos = grid + move
        moved = sample(stack(offset, conf), pos)
        conf = moved[..., 2] * check
        offset = move + moved[..., :2]
        # Occluded in the previous frame (not just outside it): the lookup landed on the occluder; take the
        # offsets of the valid neighbours instead. Near the frame border the forward-backward check fails for
        # content entering the frame, not for occlusions: there the flow is kept.
        keep = np.maximum(check, border)
        keep[~inside(pos, h, w)] = 1.0
        if keep.min() < 1.0:
            offset = fill_invalid(offset, keep)
        yield t, grid + offset, conf


def carry(source: Source, coords: np.ndarray, index: int) -> Source:
    """The source's image advected to frame `index` (coords from advect()), padding included, as a new Source.

    The padding beyond the frame takes the frame border's offsets (extrapolated like entering content).
    """
    h, w = coords.shape[:2]
    p = source.pad
    grid = pixel_grid(h, w)
    offset = cv2.copyMakeBorder(coords - grid, p, p, p, p, cv2.BORDER_REPLICATE)
    padded = pixel_grid(h + 2 * p, w + 2 * p) + offset  # padded-grid position -> source's padded image
    return Source(index, sample(source.image, padded).reshape(h + 2 * p, w + 2 * p, -1), p)


def _smooth(conf: np.ndarray) -> np.ndarray:
    k = 2 * round(MERGE_SMOOTH * max(conf.shape)) + 1
    return cv2.blur(conf, (k, k)) if k > 1 else conf


def render(source: Source, coords: np.ndarray) -> np.ndarray:
    """The source's image seen at `coords` (source frame pixels; its padding covers some way beyond)."""
    out = sample(source.image, coords + np.float32(source.pad) if source.pad else coords)
    return out[..., None] if out.ndim == 2 else out


class Sink:
    """Where merged images go: put(t, [H, W, C]) and get(t) on the guide tensor's channels for frame t.

    views(t) returns the writable [H, W, c_i] views (one per guide sharing the advection) whose channels
    sum to C.
    """

    def __init__(self, views: Callable[[int], list[np.ndarray]]):
        self.views = views

    def put(self, t: int, image: np.ndarray) -> None:
        start = 0
        for v in self.views(t):
            v[...] = image[..., start:start + v.shape[-1]]
            start += v.shape[-1]

    def get(self, t: int) -> np.ndarray:
        return np.concatenate(self.views(t), axis=-1)


def merge_shot(flow: FlowField | None, start: int, end: int, sources: list[Source], sink: Sink,
               frames: set[int] | None = None) -> None:
    """Write the merged advected image of each frame t in start..end-1 (or only those in `frames`) to `sink`.

    sources: sorted by index, all inside the shot, at least one. Between two sources each frame blends both
    advected images, weighted by the distance in time to each and by the confidence of the tracking; before
    the first and after the last source the nearest source alone is advected. At a source frame the result
    is the source's image exactly. Memory: one confidence map (uint8) per frame between two sources.
    """
    want = (lambda t: start <= t < end) if frames is None else (lambda t: t in frames)
    for s in sources:
        if want(s.index):
            sink.put(s.index, s.crop())
    first, last = sources[0], sources[-1]
    before = [t for t in range(start, first.index) if want(t)]
    if before:
        for t, coords, _ in advect(flow, first.index, min(before)):
            if t != first.index and want(t):
                sink.put(t, render(first, flow.to_frame_positions(coords)))
    after = [t for t in range(last.index + 1, end) if want(t)]
    if after:
        for t, coords, _ in advect(flow, last.index, max(after)):
            if t != last.index and want(t):
                sink.put(t, render(last, flow.to_frame_positions(coords)))
    for a, b in zip(sources[:-1], sources[1:]):
        inner = [t for t in range(a.index + 1, b.index) if want(t)]
        if not inner:
            continue
        held = {}  # forward pass from a: image written to the sink, confidence kept until b's pass arrives
        for t, coords, conf in advect(flow, a.index, max(inner)):
            if t in inner:
                sink.put(t, render(a, flow.to_frame_positions(coords)))
                held[t] = held_confidence(conf)
        for t, coords, conf in advect(flow, b.index, min(inner)):
            if t not in held:
                continue
            alpha = share_of_later(held.pop(t), conf, t, a.index, b.index)
            sink.put(t, blend(flow, sink.get(t), render(b, flow.to_frame_positions(coords)), alpha))


def held_confidence(conf: np.ndarray) -> np.ndarray:
    """The forward pass's tracking confidence as merge_shot keeps it until the backward pass: smoothed, uint8."""
    return np.round(_smooth(conf) * 255.0).astype(np.uint8)


def share_of_later(held_a: np.ndarray, conf_b: np.ndarray, t: int, a: int, b: int) -> np.ndarray:
    """[h, w] share of source b in frame t (a < t < b), from a's held_confidence and b's tracking confidence:
    the distance in time to each source times the confidence of its tracking."""
    conf_a = held_a.astype(np.float32) * (1.0 / 255.0)
    wa = (b - t) / (b - a) * (conf_a + LOW_CONFIDENCE_WEIGHT)
    wb = (t - a) / (b - a) * (_smooth(conf_b) + LOW_CONFIDENCE_WEIGHT)
    return wb / (wa + wb)


def blend(flow: FlowField, from_a: np.ndarray, from_b: np.ndarray, share_b: np.ndarray) -> np.ndarray:
    """from_a + (from_b - from_a) * share_b (at frame size), computed in from_b's buffer."""
    alpha = flow.to_frame_map(share_b)[..., None]
    from_b -= from_a
    from_b *= alpha
    from_b += from_a
    return from_b
