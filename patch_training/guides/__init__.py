"""Frame-consistency guides: optical flow, advected Gaussian blobs, edges, temporal denoise, warped keyframes.

Frames in, guides out: `compute_guides(frames, spec, keyframe_indices, ...)` -> [T, H, W, G] float32 0..1 for
inference (guides.stream.stream_guides yields the same frame by frame, for clips of any length),
`training_guides(...)` -> [K, H, W, G] at the
keyframes, computed identically. The RGB frame is not a guide; `spec.channels` counts the guide channels only.
"""
from .compute import GuideProgress, compute_guides, training_guides
from .flow import FLOW_PRESETS, FlowField, compute_flow
from .shots import ShotInfo, detect_shots, shot_coverage
from .spec import DEFAULT_GUIDES, GUIDE_CHANNELS, GuideSpec, parse_guides

__all__ = [
    "DEFAULT_GUIDES", "FLOW_PRESETS", "GUIDE_CHANNELS", "FlowField", "GuideProgress", "GuideSpec", "ShotInfo",
    "compute_flow", "compute_guides", "detect_shots", "parse_guides", "shot_coverage",
    "training_guides",
]
