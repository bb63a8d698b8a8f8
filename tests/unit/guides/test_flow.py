"""Optical flow: DIS between consecutive frames, both directions, with forward-backward confidence."""
import numpy as np
import pytest
import torch

from patch_training.errors import GuideError
from patch_training.guides import FLOW_PRESETS, compute_flow, detect_shots
from patch_training.guides.synthetic import rotating_clip, translating_clip


def _interior(a: np.ndarray, margin: int) -> np.ndarray:
    return a[:, margin:-margin, margin:-margin]


@pytest.mark.parametrize("preset", list(FLOW_PRESETS))
def test_flow_of_a_known_translation_has_a_small_endpoint_error(preset):
    frames, _ = translating_clip(3, 80, 96, dx=3, dy=-2)
    flow = compute_flow(frames, preset)
    fwd_err = np.linalg.norm(_interior(flow.forward, 12) - np.array([3, -2]), axis=-1)
    bwd_err = np.linalg.norm(_interior(flow.backward, 12) - np.array([-3, 2]), axis=-1)
    assert fwd_err.mean() < 0.3 and bwd_err.mean() < 0.3
    assert np.percentile(fwd_err, 95) < 0.6


def test_flow_of_a_rotation_follows_the_rotation():
    frames, motions = rotating_clip(2, 96, 96, degrees=2.0)
    flow = compute_flow(frames, "balanced")
    ys, xs = np.mgrid[0:96, 0:96].astype(np.float64)
    m = motions[1]
    true = np.dstack([m[0, 0] * xs + m[0, 1] * ys + m[0, 2] - xs, m[1, 0] * xs + m[1, 1] * ys + m[1, 2] - ys])
    err = np.linalg.norm(flow.forward[0] - true, axis=-1)[12:-12, 12:-12]
    assert err.mean() < 0.3


def test_confidence_is_high_where_content_stays_and_zero_where_it_leaves_the_frame():
    frames, _ = translating_clip(2, 64, 64, dx=4, dy=0)
    flow = compute_flow(frames)
    assert flow.forward_confidence[0][8:-8, 8:-12].mean() > 0.9
    assert flow.forward_confidence[0][:, -3:].max() == 0.0   # moves out through the right border
    assert flow.backward_confidence[0][:, :3].max() == 0.0   # entered through the left border


def test_working_grid_halves_the_flow_and_maps_back_to_frame_pixels():
    frames, _ = translating_clip(2, 64, 96, dx=4, dy=2)
    flow = compute_flow(frames, scale=2)
    assert flow.size == (32, 48) and flow.frame_size == (64, 96)
    assert abs(np.median(flow.forward[0][..., 0]) - 2.0) < 0.1
    grid = np.dstack(np.meshgrid(np.arange(48, dtype=np.float32), np.arange(32, dtype=np.float32)))
    up = flow.to_frame_positions(grid)
    assert up.shape == (64, 96, 2)
    assert np.allclose(up[10, 20], (20, 10), atol=1e-4)  # pixel centres line up


def test_flow_is_deterministic():
    frames, _ = rotating_clip(3, 64, 64, degrees=3.0)
    a, b = compute_flow(frames), compute_flow(frames)
    assert np.array_equal(a.forward, b.forward) and np.array_equal(a.backward_confidence, b.backward_confidence)


def test_flow_reports_progress_per_pair():
    frames, _ = translating_clip(4, 32, 32, 1, 0)
    seen = []
    compute_flow(frames, on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_flow_of_one_frame_is_a_clear_error():
    with pytest.raises(GuideError, match="at least 2 frames"):
        compute_flow(torch.rand(1, 32, 32, 3))


def test_shots_split_at_hard_cuts_and_not_at_fast_motion():
    a, _ = translating_clip(5, 96, 96, 2, 1, seed=1)
    b, _ = rotating_clip(5, 96, 96, 2.0, seed=2)
    fast, _ = translating_clip(5, 96, 96, 9, -7, seed=3)
    frames = torch.cat([a, b, fast])
    assert detect_shots(frames, compute_flow(frames)) == [(0, 5), (5, 10), (10, 15)]
    assert detect_shots(fast, compute_flow(fast)) == [(0, 5)]
    assert detect_shots(frames[:1]) == [(0, 1)]


def test_shots_from_colour_alone_find_a_cut_to_another_palette():
    a, _ = translating_clip(4, 64, 64, 1, 0, seed=1)
    b, _ = translating_clip(4, 64, 64, 1, 0, seed=2)
    b = b * torch.tensor([0.3, 0.5, 1.0])  # a bluish shot
    assert detect_shots(torch.cat([a, b])) == [(0, 4), (4, 8)]
