"""Per-frame guide images: the Gaussian-blob pattern of a keyframe, the edge map, the temporal denoise filter, the
page seen through the stylized keyframes."""
from __future__ import annotations

import math

import cv2
import numpy as np

from .flow import FlowField, pixel_grid, sample, sqnorm, stack

# Edge strength (luminance change per pixel) mapped to 1 - exp(-1). On the bundled sample clip the gradient's
# median is 0.013, its 90th percentile 0.07, its 99th 0.15: 0.1 maps them to 0.12, 0.5 and 0.77 (0.05 saturated).
EDGE_SCALE = 0.1
# Gain of the blob sum before the soft clip 1 - exp(-gain * sum): one blob of a bright colour nearly saturates.
BLOB_GAIN = 2.0
# Context rendered around advected images, as a fraction of the longer side: how far content may move into
# the frame (over a whole shot) before the image's border is stretched.
PAD_FRACTION = 0.2


def _exp(x: np.ndarray) -> np.ndarray:
    """exp of a float array by OpenCV, not numpy: numpy's SIMD exp differs in the last bit between numpy 1.x
    and 2.x and between CPUs (measured: 6e-7 on an AMD EPYC), which moved a few stylized pixels by a level
    between ComfyUI (numpy 1.26) and the CLI (numpy 2). OpenCV is pinned alike on both sides."""
    x = np.ascontiguousarray(x)
    return cv2.exp(x.reshape(1, -1) if x.ndim == 1 else x).reshape(x.shape)


def pattern_pad(h: int, w: int) -> int:
    """Context in pixels rendered around each advected source image (gauss pattern, warped keyframe)."""
    return max(4, round(PAD_FRACTION * max(h, w)))


def gauss_pattern(h: int, w: int, blobs: int, radius: float, seed: int, key: int,
                  mask: np.ndarray | None = None, pad: int = 0) -> np.ndarray:
    """[H + 2 pad, W + 2 pad, 3] float32 0..1: random coloured Gaussians, std radius * sqrt(H * W) pixels.

    `blobs` per frame area: centres uniform over the frame plus its padding (the same density there), or over
    the pixels where mask >= 0.5 (then nothing in the padding, and the pattern is multiplied by the mask);
    colours uniform in RGB. Drawn from numpy's Generator seeded with (seed, key): key is the keyframe's frame
    index, so adding a keyframe does not change the other keyframes' patterns.
    """
    rng = np.random.default_rng([seed, key])
    sigma = max(radius * math.sqrt(h * w), 0.5)
    ph, pw = h + 2 * pad, w + 2 * pad
    if mask is None:
        n = max(1, round(blobs * ph * pw / (h * w)))
        xs = rng.uniform(0.0, pw - 1.0, n)
        ys = rng.uniform(0.0, ph - 1.0, n)
    else:
        n = blobs
        valid = np.flatnonzero(mask.ravel() >= 0.5)
        pick = valid[rng.integers(0, len(valid), n)]
        ys = pick // w + rng.uniform(-0.5, 0.5, n) + pad
        xs = pick % w + rng.uniform(-0.5, 0.5, n) + pad
    colours = rng.random((n, 3)).astype(np.float32)
    # The blobs are smooth: draw them on a grid `r` times coarser (>= 4 samples per sigma), then upsample.
    r = max(1, int(sigma // 4))
    lh, lw = -(-ph // r), -(-pw // r)
    sx, sy = lw / pw, lh / ph
    acc = np.zeros((lh, lw, 3), np.float32)
    for cx, cy, colour in zip((xs + 0.5) * sx - 0.5, (ys + 0.5) * sy - 0.5, colours):
        x0, x1 = max(int(cx - 3 * sigma * sx), 0), min(int(cx + 3 * sigma * sx) + 2, lw)
        y0, y1 = max(int(cy - 3 * sigma * sy), 0), min(int(cy + 3 * sigma * sy) + 2, lh)
        # float64 throughout: numpy 1.x computed `float32 array - float64 scalar` in float32, numpy 2 in float64.
        gx = _exp(-0.5 * ((np.arange(x0, x1, dtype=np.float64) - cx) / (sigma * sx)) ** 2).astype(np.float32)
        gy = _exp(-0.5 * ((np.arange(y0, y1, dtype=np.float64) - cy) / (sigma * sy)) ** 2).astype(np.float32)
        acc[y0:y1, x0:x1] += (gy[:, None] * gx[None, :])[..., None] * colour
    if (lh, lw) != (ph, pw):
        acc = np.maximum(cv2.resize(acc, (pw, ph), interpolation=cv2.INTER_CUBIC), 0.0)
    pattern = 1.0 - cv2.exp(-BLOB_GAIN * acc)
    if mask is not None:
        pattern *= cv2.copyMakeBorder(mask.astype(np.float32), pad, pad, pad, pad, cv2.BORDER_CONSTANT)[..., None]
    return pattern.astype(np.float32, copy=False)


def edge_map(frame: np.ndarray, sigma: float) -> np.ndarray:
    """[H, W, 1] float32 0..1: Sobel gradient magnitude of the luminance blurred by `sigma` px, soft-clipped.

    A fixed mapping (no per-frame normalisation), so the edge guide does not flicker with the content.
    """
    lum = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if sigma > 0:
        lum = cv2.GaussianBlur(lum, (0, 0), sigma)
    gx = cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)  # 1/8: the 3x3 Sobel's gain on a ramp
    gy = cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    return (1.0 - _exp(-np.sqrt(gx * gx + gy * gy) / EDGE_SCALE))[..., None]


def temporal_denoise(frames: np.ndarray, flow: FlowField, t: int, start: int, end: int,
                     radius: int, sigma: float) -> np.ndarray:
    """[H, W, 3]: frame t averaged with its neighbours t-radius..t+radius (within start..end-1) along the flow.

    The time-aware bilateral filter of Texler et al. 2020 (after Bénard et al.): each neighbour is warped to
    frame t by composing the flow, and weighted by its colour similarity to frame t (Gaussian, `sigma` in
    0..1 RGB) and by the forward-backward confidence of every step of the path (occlusions get 0).
    """
    frame = frames[t]
    acc, wsum = frame.copy(), np.ones(frame.shape[:2], np.float32)
    if radius == 0:
        return acc
    grid = pixel_grid(*flow.size)
    inv = -0.5 / (sigma * sigma)
    for step in (1, -1):
        pos, vis = grid, None  # on the flow's working grid
        for j in range(1, radius + 1):
            here, there = t + step * (j - 1), t + step * j
            if not start <= there < end:
                break
            if step > 0:
                move, check = flow.forward[here], flow.forward_confidence[here]
            else:
                move, check = flow.backward[there], flow.backward_confidence[there]
            if vis is None:  # first step: the path starts on the grid, no lookup needed
                pos, vis = grid + move, check
            else:
                moved = sample(stack(move, check), pos)
                pos, vis = pos + moved[..., :2], vis * moved[..., 2]
            seen = sample(frames[there], flow.to_frame_positions(pos))
            weight = flow.to_frame_map(vis) * _exp(inv * sqnorm(seen - frame))
            acc += seen * weight[..., None]
            wsum += weight
    return acc / wsum[..., None]


def page_map(styles: np.ndarray, leave_out: int | None = None) -> np.ndarray:
    """The 'page' guide: what the stylized keyframes show at each pixel, whatever the content there.

    styles: [K, H, W, 3] float32 0..1, K >= 2. Returns [H, W, 3] float32: per pixel the mean, the minimum and the
    maximum of the keyframes' luminance. Paper grain, canvas and hatching screens fixed on the page show in it;
    content that moves averages out. leave_out: the position of a keyframe to leave out (training: the network
    learns from each keyframe what the others say about its page, as it will see the page on other frames);
    None (inference): the mean of the K leave-one-out maps, so that training and inference see the same statistic.
    """
    k = styles.shape[0]
    if k < 2:
        raise ValueError("page_map needs at least two stylized keyframes")
    luma = styles @ np.array([0.299, 0.587, 0.114], np.float32)

    def stats(rows: list[int]) -> np.ndarray:
        part = luma[rows]
        return np.stack((part.mean(0), part.min(0), part.max(0)), -1).astype(np.float32)

    if leave_out is not None:
        return stats([i for i in range(k) if i != leave_out])
    return (sum(stats([i for i in range(k) if i != j]) for j in range(k)) / k).astype(np.float32)
