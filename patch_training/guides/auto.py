"""Guides chosen automatically (`guides: auto`): which guides a style needs, read from its keyframes alone.

A style whose texture stays fixed on the page (a hatching screen, paper grain) while the content moves needs the
'page' guide: the network cannot learn where a fixed screen lies from patches of moving content (measured: 0.09
SSIM at 120 s without it on held-out hatching footage, 0.95 with it). A style whose texture moves with the
content must not get it (it costs 0.03-0.05 SSIM there, benchmarks/RESULTS.md, Style classes).

The test, on each pair of consecutive keyframes a, b: the stylized keyframes' fine texture that the content does
not explain (the residual: the stylized luminance's high-pass minus its least-squares fit on the content's
high-pass and edge strength) is compared between a and b, once at the same image position ("static") and once
after warping a's residual along the content's motion from a to b ("moving"; DIS optical flow between the two
keyframes' frames), by correlation over the pixels where the content moved (more than MIN_MOTION_PX, the flow
confident, inside both masks). A page style correlates at the same position, a content-following one along the
motion. Where the content does not move, both readings are the same: no choice is made (the default).

Only the keyframes' own frames are read (not the clip), so the command line, which streams the clip, and the
ComfyUI nodes, which hold it, choose the same guides for the same keyframes. Deterministic; milliseconds per
keyframe pair at 350x350 (benchmarks/RESULTS.md, Guides chosen automatically).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import GuideError
from .flow import compute_flow, pixel_grid, sample
from .spec import DEFAULT_GUIDES

AUTO = "auto"
MIN_MOTION_PX = 2.0      # pixels that moved less than this between two keyframes cannot tell page from content
MIN_MOVING_SHARE = 0.02  # fewer moving pixels than this share of the frame: no choice (the default)
# 'page' when the residual correlates at least PAGE_MIN_STATIC at the same position and PAGE_MARGIN more than along
# the motion. Chance correlations over the thousands of moving pixels compared are about +-0.02; measured on our
# clips (benchmarks/RESULTS.md, Guides chosen automatically): page styles about 0.5-0.8 static vs -0.02 to 0.16 moving,
# content-following ones at most 0.08 static (pencil: 0.084 vs 0.076), and the bundled sample's comic-ink restyle,
# 0.145 vs 0.036, gained 1.1 dB / 0.11 SSIM from the page guide at 30 s: its redrawn background stays put.
PAGE_MIN_STATIC = 0.1
PAGE_MARGIN = 0.1
HIGH_PASS_SIGMA = 2.0    # px: the fine texture is what a Gaussian blur of this std removes
MAX_SIDE = 1024          # larger keyframes are measured area-resized to this longer side (fine texture survives)


def is_auto(guides) -> bool:
    """True for the text 'auto' (any case, spaces around), the `guides` value that asks choose_guides."""
    return isinstance(guides, str) and guides.strip().lower() == AUTO


@dataclass(frozen=True)
class GuideChoice:
    """What `guides: auto` chose: guides (in channel order), why (a sentence), the statistics measured (static and
    moving residual correlation, share of moving pixels, pairs compared) and the time it took."""

    guides: tuple[str, ...]
    reason: str
    stats: dict = field(default_factory=dict)
    seconds: float = 0.0

    def describe(self) -> str:
        """One line for a log, the node's text and the command line, e.g. "guides auto: rgb,gauss,edges,page
        (the stylized texture stays fixed on the page ...; static 0.71, moving 0.05)"."""
        numbers = ", ".join(f"{k} {v}" for k, v in self.stats.items() if isinstance(v, (int, float)))
        return (f"guides auto: {','.join(('rgb',) + self.guides)} ({self.reason}"
                f"{'; ' + numbers if numbers else ''}; {self.seconds * 1000:.0f} ms)")

    def to_dict(self) -> dict:
        return {"guides": list(self.guides), "reason": self.reason, "stats": dict(self.stats),
                "seconds": round(self.seconds, 4)}


def choose_guides(frames, styles, masks=None) -> GuideChoice:
    """The guides a style needs, from its keyframes: frames [K, H, W, 3] (the clip's frames at the keyframes, in
    frame order), styles [K, H, W, 3] (their stylizations), masks [K, H, W] 0..1 (1 = valid style) or None.

    Returns DEFAULT_GUIDES plus 'page' for a style fixed on the page, else DEFAULT_GUIDES, with the reason and the
    statistics. One keyframe, or content that does not move between keyframes, gives the default and says why.
    Raises GuideError when the shapes disagree.
    """
    began = time.perf_counter()
    x, s = _as_array(frames, "frames"), _as_array(styles, "keyframes")
    if x.shape != s.shape:
        raise GuideError(f"keyframes: expected one stylized image per keyframe frame, of the same size "
                         f"{list(x.shape)}, received {list(s.shape)}.")
    m = None
    if masks is not None:
        m = np.asarray(masks.detach().cpu() if hasattr(masks, "detach") else masks, np.float32)
        if m.shape != x.shape[:3]:
            raise GuideError(f"masks: expected [K, H, W] = {list(x.shape[:3])}, received {list(m.shape)}.")
    x, s, m = _fit_size(x, s, m)
    k = x.shape[0]
    if k < 2:
        return GuideChoice(DEFAULT_GUIDES, "one keyframe: nothing to compare it with, so the default guides; "
                           "stylize a second keyframe to let auto check for a page-fixed texture",
                           {"pairs": 0}, time.perf_counter() - began)
    residuals = [_residual(x[i], s[i], None if m is None else m[i]) for i in range(k)]
    sums = np.zeros(5)  # static x.y, moving x.y, x.x (static a), y.y (b), moving x'.x'
    moved, area = 0, 0
    for a in range(k - 1):
        pair = _compare(x[a], x[a + 1], residuals[a], residuals[a + 1],
                        None if m is None else m[a], None if m is None else m[a + 1])
        sums += pair[0]
        moved += pair[1]
        area += pair[2]
    share = moved / max(area, 1)
    stats = {"pairs": k - 1, "moving_share": round(share, 3)}
    if share < MIN_MOVING_SHARE:
        return GuideChoice(DEFAULT_GUIDES, f"the content barely moves between the keyframes ({100 * share:.1f} % of "
                           f"the pixels move more than {MIN_MOTION_PX:g} px): a texture fixed on the page and one "
                           "that follows the content look alike, so the default guides", stats,
                           time.perf_counter() - began)
    static = sums[0] / np.sqrt(max(sums[2] * sums[3], 1e-20))
    moving = sums[1] / np.sqrt(max(sums[4] * sums[3], 1e-20))
    stats.update(static=round(float(static), 3), moving=round(float(moving), 3))
    if static >= PAGE_MIN_STATIC and static >= moving + PAGE_MARGIN:
        return GuideChoice(DEFAULT_GUIDES + ("page",), "the stylized texture stays fixed on the page while the "
                           "content moves (its fine detail matches between keyframes at the same image position, "
                           "not along the motion): the 'page' guide added", stats, time.perf_counter() - began)
    why = ("the stylized texture follows the content" if moving >= static + PAGE_MARGIN else
           "no texture fixed on the page was found")
    return GuideChoice(DEFAULT_GUIDES, f"{why}: the default guides", stats, time.perf_counter() - began)


def _as_array(images, what: str) -> np.ndarray:
    a = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images, np.float32)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise GuideError(f"{what}: expected [K, H, W, 3] images, received shape {list(a.shape)}.")
    return a


def _fit_size(x: np.ndarray, s: np.ndarray, m: np.ndarray | None):
    h, w = x.shape[1:3]
    scale = MAX_SIDE / max(h, w)
    if scale >= 1:
        return x, s, m
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    shrink = lambda a: np.stack([cv2.resize(i, size, interpolation=cv2.INTER_AREA) for i in a])  # noqa: E731
    return shrink(x), shrink(s), None if m is None else shrink(m)


def _luma(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image @ np.array([0.299, 0.587, 0.114], np.float32))


def _high_pass(plane: np.ndarray) -> np.ndarray:
    return plane - cv2.GaussianBlur(plane, (0, 0), HIGH_PASS_SIGMA)


def _residual(frame: np.ndarray, style: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The stylized keyframe's fine texture that the content does not explain: the high-pass of its luminance
    minus its least-squares fit (inside the mask) on the content's high-pass and on its edge strength's."""
    c = _luma(frame)
    g = cv2.GaussianBlur(c, (0, 0), 1.0)
    edges = np.sqrt(cv2.Sobel(g, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(g, cv2.CV_32F, 0, 1) ** 2)
    target = _high_pass(_luma(style))
    features = np.stack([_high_pass(c), _high_pass(edges), np.ones_like(c)], -1)
    keep = np.ones(c.shape, bool) if mask is None else mask >= 0.5
    if keep.sum() < 16:
        return np.zeros_like(target)
    coef, *_ = np.linalg.lstsq(features[keep].astype(np.float64), target[keep].astype(np.float64), rcond=None)
    return (target - features @ coef.astype(np.float32)).astype(np.float32)


def _compare(frame_a, frame_b, res_a, res_b, mask_a, mask_b) -> tuple[np.ndarray, int, int]:
    """Correlation sums of the residuals of keyframes a and b over b's pixels that moved: at the same position and
    along the motion; with the count of those pixels and of b's pixels considered (inside its mask)."""
    h, w = frame_b.shape[:2]
    flow = compute_flow(np.stack([frame_a, frame_b]), "fast", 0)
    size = flow.size
    to_a = flow.to_frame_positions(pixel_grid(*size) + flow.backward[0])  # pixel q of b was at to_a(q) in a
    confident = flow.to_frame_map(flow.backward_confidence[0]) >= 0.5
    moved = np.sqrt(((to_a - pixel_grid(h, w)) ** 2).sum(-1)) > MIN_MOTION_PX
    within = np.ones((h, w), bool) if mask_b is None else mask_b >= 0.5
    keep = within & confident & moved
    if mask_a is not None:
        keep &= (mask_a >= 0.5) & (sample(mask_a, to_a) >= 0.5)
    along = sample(res_a, to_a)
    xa, xm, y = res_a[keep].astype(np.float64), along[keep].astype(np.float64), res_b[keep].astype(np.float64)
    sums = np.array([xa @ y, xm @ y, xa @ xa, y @ y, xm @ xm])
    return sums, int(keep.sum()), int(within.sum())
