"""The numbers behind keyframe registration (frames.align): structure maps that survive stylization, the coarse
search over shifts and zooms, OpenCV's ECC refinement, the local field of tile shifts, and the warps; frame pixels
and 2x3 affine maps (frame -> keyframe) in, numpy arrays out. Deterministic: OpenCV on the CPU, no randomness."""
from __future__ import annotations

import math

import cv2
import numpy as np

COARSE_SIDE = 160        # longer side of the coarse search's maps
FINE_SIDES = (320, 640)  # longer sides of the ECC levels (capped at the frame's)
# Zoom grid of the coarse search, per axis: 1.06 apart (phase correlation tolerates a few % of scale error),
# from 0.79 (the keyframe shows more than its frame) to 2.0 (a crop of half the frame's side). The stretch
# limit covers a 16:9 frame's centre square stretched back to 16:9 (1.78).
ZOOMS = tuple(1.06 ** k for k in range(-4, 13))
MAX_STRETCH = 1.9
MIN_COVERAGE = 0.5       # a map leaving half the frame uncovered is no plausible edit (a 16:9 frame's centre square: 0.56)
LOCAL_MIN_PX = 1.0       # residual (frame pixels) below which no local refinement is tried
LOCAL_GAIN = 0.01        # structure correlation a local refinement must add to be kept
TILES = 4                # tiles per side of the residual measurement


# ----------------------------------------------------------------------------------------------- structure

def _structure(rgb: np.ndarray, side: int, mask: np.ndarray | None = None) -> np.ndarray:
    """[h, w] float32 structure map of an RGB image at longer side `side`: gradient magnitude (largest over the
    channels) of the slightly blurred image over its local mean, zero mean and unit variance (0 off the mask)."""
    size = _level_size(rgb.shape[:2], side)
    small = cv2.resize(rgb, size[::-1], interpolation=cv2.INTER_AREA) if size != rgb.shape[:2] else rgb
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    gx, gy = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.sqrt(gx * gx + gy * gy).max(axis=2)
    local = cv2.GaussianBlur(magnitude, (0, 0), max(2.0, side / 64))
    out = magnitude / (local + 0.2 * float(magnitude.mean()) + 1e-6)
    if mask is not None:
        small_mask = cv2.resize(mask, size[::-1], interpolation=cv2.INTER_AREA) >= 0.5
        out = out * small_mask
    return ((out - out.mean()) / (out.std() + 1e-6)).astype(np.float32)


def flat(rgb: np.ndarray) -> bool:
    """True for an image without edges (a mean gradient under 1/500 per pixel at the coarse size): a flat
    colour, which no registration can place and no shift can misplace."""
    size = _level_size(rgb.shape[:2], COARSE_SIDE)
    small = cv2.resize(rgb, size[::-1], interpolation=cv2.INTER_AREA) if size != rgb.shape[:2] else rgb
    gx, gy = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.sqrt(gx * gx + gy * gy).max(axis=2).mean()) < 0.002


def _level_size(size, side: int) -> tuple[int, int]:
    h, w = size
    f = min(1.0, side / max(h, w))
    return max(8, round(h * f)), max(8, round(w * f))


def _to_level(matrix: np.ndarray, frame_size, level_size) -> np.ndarray:
    """A 3x3 map in frame pixels -> the same map in a level's pixels (pixel centres kept)."""
    scale = _scaling(frame_size, level_size)
    return np.linalg.inv(scale) @ matrix @ scale


def _from_level(matrix: np.ndarray, frame_size, level_size) -> np.ndarray:
    scale = _scaling(frame_size, level_size)
    return scale @ matrix @ np.linalg.inv(scale)


def _scaling(frame_size, level_size) -> np.ndarray:
    """Level pixels -> frame pixels: x_frame + 0.5 = f (x_level + 0.5)."""
    fy, fx = frame_size[0] / level_size[0], frame_size[1] / level_size[1]
    return np.array([[fx, 0, 0.5 * (fx - 1)], [0, fy, 0.5 * (fy - 1)], [0, 0, 1]], np.float64)


def _ncc(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    """Correlation of a and b over `valid` (bool)."""
    if valid.sum() < 0.2 * valid.size:
        return -1.0
    x, y = a[valid].astype(np.float64), b[valid].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (math.sqrt((x * x).sum() * (y * y).sum()) + 1e-12))


def _phase(a: np.ndarray, b: np.ndarray, window: np.ndarray) -> tuple[tuple[float, float], float]:
    """cv2.phaseCorrelate on copies: with a window, OpenCV (4.10) multiplies its inputs by it in place."""
    return cv2.phaseCorrelate(a.copy(), b.copy(), window)


def _warp_level(image: np.ndarray, matrix: np.ndarray, border: float = 0.0) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, matrix[:2].astype(np.float32), (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)


# ----------------------------------------------------------------------------------------------- search

def coarse(frame: np.ndarray, stylized: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, float]:
    """The best zoom (per axis) and shift on small structure maps, as a 3x3 map in frame pixels, and its
    structure correlation (maps covering less than MIN_COVERAGE of the frame are not tried)."""
    f_map, s_map = _structure(frame, COARSE_SIDE), _structure(stylized, COARSE_SIDE, mask)
    h, w = f_map.shape
    window = cv2.createHanningWindow((w, h), cv2.CV_32F)
    ones = np.ones((h, w), np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    best, best_score = np.eye(3), -2.0
    for zx in ZOOMS:
        for zy in ZOOMS:
            if max(zx / zy, zy / zx) > MAX_STRETCH:
                continue
            base = np.array([[zx, 0, cx - zx * cx], [0, zy, cy - zy * cy], [0, 0, 1]])
            moved = _warp_level(s_map, base)
            (dx, dy), _ = _phase(f_map, moved, window)
            # moved(x) ~ f_map(x - d), so f_map(x) ~ s_map(base(x + d))
            for shift in ((dx, dy), (0.0, 0.0)):  # the zero shift too: periodic textures fool the correlation
                candidate = base @ np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1]])
                valid = _warp_level(ones, candidate) >= 0.999
                if valid.mean() < MIN_COVERAGE:
                    continue
                score = _ncc(f_map, _warp_level(s_map, candidate), valid)
                if score > best_score + 1e-9:
                    best, best_score = candidate, score
    return _from_level(best, frame.shape[:2], (h, w)), best_score


def refine(frame: np.ndarray, stylized: np.ndarray, mask: np.ndarray | None, matrix: np.ndarray) -> np.ndarray:
    """ECC affine refinement, coarse to fine; a level that fails to converge or lowers the match is skipped."""
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 80, 1e-6)
    for side in FINE_SIDES:
        f_map, s_map = _structure(frame, side), _structure(stylized, side, mask)
        if side != FINE_SIDES[0] and f_map.shape == _level_size(frame.shape[:2], FINE_SIDES[0]):
            break  # the frame is no larger than the previous level
        level = _to_level(matrix, frame.shape[:2], f_map.shape)
        try:
            _, found = cv2.findTransformECC(f_map, s_map, level[:2].astype(np.float32).copy(), cv2.MOTION_AFFINE,
                                            criteria, None, 5)
        except cv2.error:
            continue
        candidate = np.vstack([found.astype(np.float64), [0, 0, 1]])
        ones = np.ones(f_map.shape, np.float32)
        before = _ncc(f_map, _warp_level(s_map, level), _warp_level(ones, level) >= 0.999)
        after = _ncc(f_map, _warp_level(s_map, candidate), _warp_level(ones, candidate) >= 0.999)
        if after >= before:
            matrix = _from_level(candidate, frame.shape[:2], f_map.shape)
    return matrix


def _tile_shifts(f_map: np.ndarray, moved: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per tile of a TILES x TILES grid: the shift d with f_map(x) ~ moved(x + d) [TILES, TILES, 2], and whether
    the tile holds enough structure and overlap to be measured [TILES, TILES]."""
    h, w = f_map.shape
    shifts, ok = np.zeros((TILES, TILES, 2)), np.zeros((TILES, TILES), bool)
    th, tw = h // TILES, w // TILES
    if th < 16 or tw < 16:
        return shifts, ok
    window = cv2.createHanningWindow((tw, th), cv2.CV_32F)
    for i in range(TILES):
        for j in range(TILES):
            a = np.ascontiguousarray(f_map[i * th:(i + 1) * th, j * tw:(j + 1) * tw])
            b = np.ascontiguousarray(moved[i * th:(i + 1) * th, j * tw:(j + 1) * tw])
            if valid[i * th:(i + 1) * th, j * tw:(j + 1) * tw].mean() < 0.9 or a.std() < 0.3 or b.std() < 0.3:
                continue
            (dx, dy), response = _phase(a, b, window)
            if response > 0.05 and abs(dx) < tw / 4 and abs(dy) < th / 4:
                shifts[i, j], ok[i, j] = (dx, dy), True  # b(x) ~ a(x - d): a(x) ~ b(x + d)
    return shifts, ok


def local_field(frame, stylized, mask, matrix) -> tuple[np.ndarray | None, float, bool]:
    """(a displacement field [H, W, 2] in frame pixels to add to the affine map, or None; the residual in frame
    pixels; whether the field was kept)."""
    side = FINE_SIDES[-1]
    f_map, s_map = _structure(frame, side), _structure(stylized, side, mask)
    level = _to_level(matrix, frame.shape[:2], f_map.shape)
    ones = np.ones(f_map.shape, np.float32)
    valid = _warp_level(ones, level) >= 0.999
    moved = _warp_level(s_map, level)
    shifts, ok = _tile_shifts(f_map, moved, valid)
    scale = frame.shape[1] / f_map.shape[1]
    if not ok.any():
        return None, 0.0, False
    residual = float(np.median(np.hypot(shifts[ok][:, 0], shifts[ok][:, 1]))) * scale
    if residual < LOCAL_MIN_PX or ok.sum() < TILES * TILES // 2:
        return None, residual, False
    filled = np.where(ok[..., None], shifts, np.median(shifts[ok], axis=0)).astype(np.float32)
    filled = cv2.GaussianBlur(filled, (3, 3), 0.8)
    field_level = cv2.resize(filled, f_map.shape[::-1], interpolation=cv2.INTER_LINEAR)  # keyframe-space shifts
    linear = level[:2, :2].astype(np.float32)
    field_level = field_level @ linear.T  # d is in frame coordinates: the keyframe moves by L d
    before = _ncc(f_map, moved, valid)
    refined = _remap(s_map, level, field_level)
    valid_after = _remap(ones, level, field_level) >= 0.999
    after = _ncc(f_map, refined, valid_after)
    shifts_after, ok_after = _tile_shifts(f_map, refined, valid_after)
    residual_after = (float(np.median(np.hypot(shifts_after[ok_after][:, 0], shifts_after[ok_after][:, 1]))) * scale
                      if ok_after.any() else residual)
    if after < before + LOCAL_GAIN or residual_after >= residual:
        return None, residual, False
    field = cv2.resize(field_level, frame.shape[1::-1], interpolation=cv2.INTER_LINEAR) * scale
    return field, residual_after, True


def _remap(image: np.ndarray, matrix: np.ndarray, field: np.ndarray | None, border: float = 0.0,
           replicate: bool = False) -> np.ndarray:
    """image sampled at matrix(x) + field(x) for each pixel x of its own grid."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    map_y = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    if field is not None:
        map_x, map_y = map_x + field[..., 0], map_y + field[..., 1]
    mode = cv2.BORDER_REPLICATE if replicate else cv2.BORDER_CONSTANT
    return cv2.remap(image, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=mode, borderValue=border)


def covered_area(matrix: np.ndarray, field: np.ndarray | None, size) -> np.ndarray:
    """[H, W] bool: the frame pixels whose place in the keyframe lies on it (within its outer pixels' area)."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    map_x = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    map_y = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    if field is not None:
        map_x, map_y = map_x + field[..., 0], map_y + field[..., 1]
    return (map_x >= -0.5) & (map_x <= w - 0.5) & (map_y >= -0.5) & (map_y <= h - 0.5)


def warp(image: np.ndarray, matrix: np.ndarray, field: np.ndarray | None, size, border: float | None = None):
    """image (at the frame size) resampled onto the frame's grid; border None: edge pixels repeated."""
    if field is not None:
        return _remap(image, matrix, field, border or 0.0, replicate=border is None)
    h, w = size
    mode = cv2.BORDER_REPLICATE if border is None else cv2.BORDER_CONSTANT
    return cv2.warpAffine(image, matrix[:2].astype(np.float32), (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=mode, borderValue=border or 0.0)


def score_at(frame, stylized, mask, matrix, field, side) -> float:
    f_map, s_map = _structure(frame, side), _structure(stylized, side, mask)
    level = _to_level(matrix, frame.shape[:2], f_map.shape)
    small = None
    if field is not None:
        scale = f_map.shape[1] / frame.shape[1]
        small = cv2.resize(field, f_map.shape[::-1], interpolation=cv2.INTER_LINEAR) * scale
    ones = np.ones(f_map.shape, np.float32)
    return _ncc(f_map, _remap(s_map, level, small), _remap(ones, level, small) >= 0.999)
