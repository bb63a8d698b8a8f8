"""Registration of stylized keyframes to their frames: the shift, zoom, rotation, stretch or crop an image-edit
model gave a keyframe, found on what survives stylization (the images' structure), undone, and reported.

Image-edit models return keyframes that do not line up with their frames (Qwen-Image-Edit shifts or zooms by a
few pixels, Flux Kontext returns a crop, FLUX.2 shifts by up to a fifth of the frame); a patch network trained on
such pairs learns ghosted edges and blur. `align_keyframe` finds the affine map from the frame to its stylized
image and resamples the stylized image onto the frame's grid:

1. Both images become structure maps: the gradient magnitude of the slightly blurred colour image, divided by
   its local mean, so that a line drawn in ink and the photographed edge under it look alike.
2. Coarse: on small maps (longer side COARSE_SIDE), for each horizontal and vertical zoom of a grid, phase
   correlation gives the best shift; the candidate whose structure correlates best with the frame's wins.
3. Fine: OpenCV's ECC maximisation fits a full affine map (rotation and shear included) on larger maps, level
   by level (FINE_SIDES).
4. Local: phase correlation on a grid of tiles measures the misalignment left (the report's residual); where
   it is above LOCAL_MIN_PX, a smooth field of the tiles' shifts is added to the affine map, kept only if the
   structure correlation rises by LOCAL_GAIN and the residual falls.

A keyframe whose map moves no pixel of the frame by more than IDENTITY_PX is returned as it was given. One whose
structure matches its frame hardly better than chance (MIN_MARGIN, MIN_RATIO: another picture, a wrong frame
number) is refused by name.
The search itself (and the constants named above) is in frames.registration. Deterministic: OpenCV on the CPU,
no randomness.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import ConfigError, FramesError, KeyframeError, MaskError
from ..keyframes import Keyframes, check_indices, make_keyframes, resize_images
from .registration import FINE_SIDES, MIN_COVERAGE, coarse, covered_area, flat, local_field, refine, score_at, warp

ALIGN_MODES = ("auto", "off")
IDENTITY_PX = 1.0        # a map moving no frame pixel further than this is the identity: the input comes back as is
#                          (the estimate on stylized images is good to about 0.3 px; training does not notice less)
# Is it the frame's content? The coarse search's best structure correlation is compared with what the same
# search finds for the stylized image turned upside down (the same image statistics, none of the frame's
# layout): chance matches reach about as much either way. Measured on the restyled clip pairs of
# comfyui-workflow-templates-media-video, the sample and seed_platinum (350x350 and 540x960): a keyframe and
# its own frame (also cropped as Kontext does) scored 0.19-0.84 against 0.06-0.37 upside down (at least
# 0.08 more and 1.7 times as much); a keyframe and a frame of another clip at most 0.06 more or 1.55 times as
# much (never both: at most 0.05 more at 1.6 times or more).
MIN_MARGIN = 0.07        # best correlation minus the upside-down one
MIN_RATIO = 1.6          # best correlation over the upside-down one
MIN_SCORE = 0.1          # structure correlation after alignment (its own frame: 0.15 and more)


@dataclass(frozen=True)
class AlignmentReport:
    """What registration did to one keyframe, in frame pixels. The transform maps the frame onto the keyframe
    (as resized to the frame size): zoom > 1 means the keyframe shows a magnified part of its frame (a crop)."""

    action: str                      # "unchanged" (already aligned), "aligned", "flat" (no edges in the frame or
    #                                  the keyframe: kept as is), or "off" (not tried)
    shift_px: tuple[float, float]    # (dx, dy): where the frame's centre lies in the keyframe, from its centre
    zoom: float                      # sqrt(zoom_x * zoom_y)
    rotation_deg: float              # counter-clockwise on screen
    stretch: float                   # zoom_x / zoom_y (1: none)
    moved_px: float                  # the largest displacement of a frame pixel that was undone
    residual_px: float               # misalignment left (median over tiles), in frame pixels
    score: float                     # structure correlation with the frame after alignment (1: identical)
    coverage: float                  # fraction of the frame the keyframe covers after alignment
    local: bool                      # a local refinement was kept
    matrix: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # the affine map, 2x3 row by row: frame px -> keyframe px

    def as_dict(self) -> dict:
        data = asdict(self)
        data["shift_px"], data["matrix"] = list(self.shift_px), list(self.matrix)
        return data

    def describe(self, name: str = "keyframe") -> str:
        if self.action == "off":
            return f"{name}: not aligned (align off)"
        if self.action == "flat":
            return f"{name}: no edges to register on (a flat image), kept as is"
        if self.action == "unchanged":
            return (f"{name}: already aligned (moved {self.moved_px:.2f} px at most, residual "
                    f"{self.residual_px:.1f} px), kept as is")
        dx, dy = self.shift_px
        parts = [f"shift ({dx:+.1f}, {dy:+.1f}) px", f"zoom {self.zoom:.3f}"]
        if abs(self.rotation_deg) >= 0.05:
            parts.append(f"rotation {self.rotation_deg:+.2f} deg")
        if abs(self.stretch - 1) >= 0.002:
            parts.append(f"stretch {self.stretch:.3f}")
        text = (f"{name}: aligned ({', '.join(parts)}; up to {self.moved_px:.1f} px undone), residual "
                f"{self.residual_px:.1f} px, structure match {self.score:.2f}")
        if self.local:
            text += ", local refinement"
        if self.coverage < 0.999:
            text += f"; {100 * (1 - self.coverage):.1f} % of the frame uncovered at the border, left out of training"
        return text


@dataclass(frozen=True)
class Alignment:
    """image: the keyframe on its frame's grid [H, W, 3] float32 0..1 (the input object itself when it was
    already aligned at the frame size); mask: [H, W] float32, 1 where the keyframe covers its frame, 0 on the
    border it does not; given_mask: the given mask resampled like the image (at the frame size), or None."""

    image: torch.Tensor
    mask: torch.Tensor
    given_mask: torch.Tensor | None
    report: AlignmentReport


def align_keyframe(frame: torch.Tensor, stylized: torch.Tensor, mask: torch.Tensor | None = None,
                   name: str = "keyframe") -> Alignment:
    """Register a stylized keyframe to its frame.

    frame: [H, W, 3] float 0..1, the unstylized frame; stylized: [h, w, 3] float 0..1, any size and aspect;
    mask: optional [h, w] (or at the frame size when stylized is) 0..1, where the stylized image is valid: only
    there is structure matched. name: the keyframe's name in messages ("keyframe 14").
    Returns an Alignment at the frame's size. Raises KeyframeError when the stylized image does not show its
    frame's content, MaskError when the mask does not fit, FramesError on malformed images.
    """
    given_image = stylized
    frame, stylized = _check_image("frame", frame), _check_image(f"{name} (stylized)", stylized)
    h, w = frame.shape[:2]
    same = stylized.shape[:2] == (h, w)
    resized = stylized if same else resize_images(stylized[None].float(), h, w)[0]
    given = None if mask is None else _mask_at(mask, stylized.shape[:2], (h, w), name)
    f_np, s_np = frame.float().numpy(), resized.float().clamp(0, 1).numpy()
    m_np = None if given is None else given.numpy()

    if flat(f_np) or flat(s_np):  # nothing to register on, and nothing a shift could misplace
        return Alignment(given_image if same else resized, torch.ones((h, w), dtype=torch.float32), given,
                         AlignmentReport("flat", (0.0, 0.0), 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, False))
    matrix, found = coarse(f_np, s_np, m_np)
    _, chance = coarse(f_np, np.ascontiguousarray(s_np[::-1, ::-1]),
                       None if m_np is None else np.ascontiguousarray(m_np[::-1, ::-1]))
    matrix = refine(f_np, s_np, m_np, matrix)
    field, residual, local = local_field(f_np, s_np, m_np, matrix)
    score = score_at(f_np, s_np, m_np, matrix, field, FINE_SIDES[-1])
    covered = covered_area(matrix, field, (h, w))
    coverage = float(covered.mean())
    report = _report(matrix, (h, w), residual, score, coverage, local)
    if (found - chance < MIN_MARGIN or found < MIN_RATIO * chance or score < MIN_SCORE
            or coverage < MIN_COVERAGE):
        raise KeyframeError(
            f"{name}: the stylized image does not show its frame's content: its edges match the frame's at best "
            f"{found:.2f} (correlation of edge maps after the best shift and zoom found), hardly more than the "
            f"same image turned upside down does ({chance:.2f}; a stylized image of its own frame scores at least "
            f"{MIN_MARGIN} more and {MIN_RATIO} times as much); aligned, it would match {score:.2f} and cover "
            f"{100 * coverage:.0f} % of the frame. Give the stylized image of this frame (check the keyframe's "
            f"frame number), or set align to off to train on it as it is.")
    if report.moved_px <= IDENTITY_PX and not local:
        return Alignment(given_image if same else resized, torch.ones((h, w), dtype=torch.float32), given,
                         AlignmentReport(**{**asdict(report), "action": "unchanged", "coverage": 1.0}))
    image = torch.from_numpy(np.ascontiguousarray(warp(s_np, matrix, field, (h, w)))).clamp(0, 1)
    valid = torch.from_numpy(covered.astype(np.float32))
    warped = None if m_np is None else torch.from_numpy(warp(m_np, matrix, field, (h, w), border=0.0)).clamp(0, 1)
    return Alignment(image, valid, warped, report)


def align_keyframes(frames: torch.Tensor, stylized, masks: torch.Tensor | None = None, align: str = "auto",
                    names: list[str] | None = None) -> tuple[list[torch.Tensor], torch.Tensor | None,
                                                             torch.Tensor | None, list[AlignmentReport]]:
    """align_keyframe for each keyframe: frames [K, H, W, 3] (the frames the keyframes stylize), stylized
    [K, h, w, 3] or a list of K [h_k, w_k, 3], masks [K, h, w] or None, align 'auto' or 'off'.

    Returns (images, masks, coverage, reports): with 'auto' the images at the frame size, the given masks
    resampled like them (or None), coverage [K, H, W] (0 on the uncovered border; None when every keyframe
    covers its frame) and one report each; with 'off' the inputs unchanged, None, and 'off' reports."""
    if align not in ALIGN_MODES:
        raise ConfigError(f"align: expected one of {list(ALIGN_MODES)}, received {align!r}.")
    count = len(stylized)
    names = names or [f"keyframe {k}" for k in range(count)]
    if align == "off":
        off = AlignmentReport("off", (0.0, 0.0), 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, False)
        return list(stylized), masks, None, [off] * count
    if masks is not None and len(masks) != count:
        raise MaskError(f"masks: expected one mask per keyframe ({count}), received {len(masks)}.")
    done = [align_keyframe(frames[k], stylized[k], None if masks is None else masks[k], names[k])
            for k in range(count)]
    coverage = None if all(a.report.coverage >= 1.0 for a in done) else torch.stack([a.mask for a in done])
    given = None if masks is None else torch.stack([a.given_mask for a in done])
    return [a.image for a in done], given, coverage, [a.report for a in done]


def make_aligned_keyframes(indices, stylized, masks: torch.Tensor | None, frames: torch.Tensor, align: str = "auto",
                           frames_at: torch.Tensor | None = None,
                           names: list[str] | None = None) -> tuple[Keyframes, list[str]]:
    """make_keyframes after registration: (Keyframes, notes), one note per keyframe saying what was done.

    indices: frame numbers; stylized: [K, h, w, 3] or K images [h_k, w_k, 3]; masks: [K, h, w] or None;
    frames: the clip [T, H, W, 3] (only its shape is read when frames_at, the frames at `indices`, is given);
    align: 'auto' (frames.align) or 'off' (make_keyframes as is). The keyframes keep their coverage and the
    reports (Keyframes.coverage, .alignment). Raises KeyframeError, MaskError, FramesError, ConfigError."""
    if align not in ALIGN_MODES:
        raise ConfigError(f"align: expected one of {list(ALIGN_MODES)}, received {align!r}.")
    if align == "off":
        return make_keyframes(indices, _stacked(stylized), masks, frames=frames)
    indices = check_indices(indices, len(stylized), frames.shape[0])
    names = names or [f"keyframe at frame {i}" for i in indices]
    at = frames_at if frames_at is not None else frames[list(indices)]
    images, masks, coverage, reports = align_keyframes(at, stylized, masks, "auto", names)
    keyframes, notes = make_keyframes(indices, torch.stack(images), masks, frames=frames, coverage=coverage,
                                      alignment=[r.as_dict() for r in reports])
    return keyframes, [r.describe(n) for r, n in zip(reports, names)] + notes


def _stacked(images) -> torch.Tensor:
    if isinstance(images, torch.Tensor):
        return images
    sizes = sorted({tuple(i.shape) for i in images})
    if len(sizes) > 1:
        raise KeyframeError(f"keyframes: expected images of one size (align off uses them as given), received "
                            f"sizes {[f'{s[1]}x{s[0]}' for s in sizes]}. Set align to auto, or give the keyframes "
                            f"at the frames' size.")
    return torch.stack(list(images))


# ----------------------------------------------------------------------------------------------- checks

def _check_image(what: str, image) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 8:
        shape = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise FramesError(f"{what}: expected an image [H, W, 3] of at least 8x8 pixels, received {shape}.")
    if not image.is_floating_point():
        raise FramesError(f"{what}: expected float values in 0..1, received dtype {image.dtype}.")
    return image.detach().cpu()


def _mask_at(mask, stylized_size, frame_size, name) -> torch.Tensor:
    """The given mask at the frame size, float 0..1: drawn on the stylized image (its size or aspect)."""
    if not isinstance(mask, torch.Tensor) or mask.ndim != 2:
        shape = list(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise MaskError(f"{name} mask: expected one mask [H, W], received {shape}.")
    mh, mw = mask.shape
    sh, sw = stylized_size
    if abs(mh / mw - sh / sw) > 0.02 * (sh / sw):
        raise MaskError(f"{name} mask: expected the stylized image's size {sw}x{sh} (or its aspect), received "
                        f"{mw}x{mh}.")
    mask = mask.detach().cpu().float().clamp(0, 1)
    if tuple(mask.shape) != tuple(frame_size):
        mask = resize_images(mask[None, :, :, None], *frame_size)[0, :, :, 0]
    return mask


def _report(matrix: np.ndarray, size, residual: float, score: float, coverage: float, local: bool) -> AlignmentReport:
    h, w = size
    linear = matrix[:2, :2]
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    shift = linear @ centre + matrix[:2, 2] - centre
    # linear = R(angle) @ [[zx, s], [0, zy]] (QR): rotation first, then zoom per axis and a small shear
    angle = math.atan2(linear[1, 0], linear[0, 0])
    zx = math.hypot(linear[0, 0], linear[1, 0])
    zy = float(np.linalg.det(linear)) / zx
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64)
    moved = float(np.max(np.hypot(*(corners @ linear.T + matrix[:2, 2] - corners).T)))
    return AlignmentReport("aligned", (round(float(shift[0]), 2), round(float(shift[1]), 2)),
                           round(math.sqrt(abs(zx * zy)), 4), round(-math.degrees(angle), 3),
                           round(zx / zy, 4), round(moved, 2), round(residual, 2), round(score, 3),
                           round(coverage, 4), local, tuple(round(float(v), 6) for v in matrix[:2].reshape(-1)))
