"""Synthetic clips with a known motion (a textured plane moved by an affine map), for tests and benchmarks."""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """[H, W, 3] float32 0..1: colourful multi-scale value noise (detail at 2 to 32 px), deterministic."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for s in (2, 4, 8, 16, 32):
        noise = rng.random((h // s + 3, w // s + 3, 3)).astype(np.float32)
        up = cv2.resize(noise, ((w // s + 3) * s, (h // s + 3) * s), interpolation=cv2.INTER_CUBIC)
        img += up[s:s + h, s:s + w] * math.sqrt(s)
    img -= img.min()
    return img / img.max()


def affine_clip(frames: int, h: int, w: int, step: np.ndarray, seed: int = 0,
                margin: int | None = None) -> tuple[torch.Tensor, list[np.ndarray]]:
    """A texture moved by the 2x3 affine map `step` (frame t -> t+1, pixel coordinates) at every frame.

    Returns (frames [T, H, W, 3] float32 0..1, motions): motions[t] is the 2x3 map from frame-0 pixel
    coordinates to frame-t pixel coordinates. Content entering through the border is real texture.
    """
    margin = margin if margin is not None else max(h, w)
    tex = texture(h + 2 * margin, w + 2 * margin, seed)
    step3 = np.vstack([np.asarray(step, np.float64), [0, 0, 1]])
    shift = np.array([[1, 0, margin], [0, 1, margin], [0, 0, 1]], np.float64)
    motion, out, motions = np.eye(3), [], []
    for _ in range(frames):
        # frame_t(q) = texture(motion^-1 q + margin): warpAffine with the map frame -> texture coordinates
        to_tex = (shift @ np.linalg.inv(motion))[:2]
        out.append(cv2.warpAffine(tex, to_tex, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT_101))
        motions.append(motion[:2].copy())
        motion = step3 @ motion
    return torch.from_numpy(np.clip(np.stack(out), 0, 1).astype(np.float32)), motions


def translating_clip(frames: int, h: int, w: int, dx: float, dy: float, seed: int = 0):
    """affine_clip moving the content by (dx, dy) pixels per frame."""
    return affine_clip(frames, h, w, np.array([[1, 0, dx], [0, 1, dy]]), seed)


def rotating_clip(frames: int, h: int, w: int, degrees: float, seed: int = 0):
    """affine_clip rotating the content by `degrees` per frame about the frame centre."""
    step = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    return affine_clip(frames, h, w, step, seed)


def move_image(image: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """image [H, W, C] moved by the 2x3 map `motion` (as the content of an affine_clip moves)."""
    h, w = image.shape[:2]
    out = cv2.warpAffine(image, motion, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(h, w, -1)


def grain(h: int, w: int, seed: int = 7) -> np.ndarray:
    """[H, W] float32 0..1: fine grain (detail of 1-3 px), deterministic; a paper's or a screen's texture."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.8)
    return np.clip(0.5 + noise / (4 * noise.std() + 1e-6), 0, 1)


def textured_style(frames: torch.Tensor, motions: list[np.ndarray], on_page: bool, seed: int = 7) -> torch.Tensor:
    """A grey style of an affine_clip: the content's tone times a fine grain, [T, H, W, 3] float32 0..1. on_page:
    the grain stays fixed in image space (paper, a hatching screen) while the content moves; else the grain
    moves with the content (motions as affine_clip returns them), like a texture painted on the objects."""
    x = frames.numpy()
    h, w = x.shape[1:3]
    canvas = grain(h, w, seed)
    out = []
    for t in range(x.shape[0]):
        tex = canvas if on_page else move_image(canvas, motions[t])[..., 0]
        tone = x[t] @ np.array([0.299, 0.587, 0.114], np.float32)
        out.append(np.clip(tone * (0.4 + 1.2 * tex), 0, 1))
    return torch.from_numpy(np.repeat(np.stack(out)[..., None], 3, -1).astype(np.float32))
