"""compute_guides / training_guides: layout, the other guides, training equals inference, and bad input."""
import numpy as np
import pytest
import torch

from patch_training.errors import FramesError, GuideError, KeyframeError, MaskError
from patch_training.guides import (GuideProgress, GuideSpec, compute_flow, compute_guides,
                                   training_guides)
from patch_training.guides.advect import fill_invalid
from patch_training.guides.stream import stream_guides
from patch_training.guides.synthetic import rotating_clip, translating_clip

ALL = GuideSpec(guides=("gauss", "edges", "denoise", "warp"))


@pytest.fixture(scope="module")
def clip():
    frames, _ = rotating_clip(7, 64, 64, degrees=2.0)
    return frames


def test_guides_have_one_row_per_frame_and_the_spec_channels_in_0_1(clip):
    g = compute_guides(clip, ALL, [0, 6], keyframes=clip[[0, 6]].flip(-1))
    assert g.shape == (7, 64, 64, ALL.channels) and g.dtype == torch.float32
    assert g.min() >= 0.0 and g.max() <= 1.0


def test_training_guides_equal_inference_guides_at_the_keyframes(clip):
    spec = GuideSpec(guides=("edges", "gauss", "denoise"))
    keys = [5, 1, 3]  # any order: row k is keyframe_indices[k]
    train = training_guides(clip, spec, keys)
    infer = compute_guides(clip, spec, keys)
    assert torch.equal(train, infer[keys])


def test_streamed_guides_equal_the_whole_clip_guides():
    a, _ = rotating_clip(6, 48, 48, degrees=2.0, seed=1)
    b, _ = translating_clip(5, 48, 48, 2, 1, seed=2)
    frames = torch.cat([a, b])
    keys = [1, 4, 8]
    whole = compute_guides(frames, ALL, keys, keyframes=frames[keys].flip(-1))
    streamed = list(stream_guides(iter(frames.numpy()), ALL, keys, keyframes=frames[keys].flip(-1), frame_count=11))
    assert [t for t, _, _ in streamed] == list(range(11))
    assert np.array_equal(np.stack([g for _, _, g in streamed]), whole.numpy())


def test_training_warp_guide_of_a_keyframe_comes_from_the_other_keyframes():
    still = torch.rand(1, 48, 48, 3).expand(7, -1, -1, -1).contiguous()  # no motion: warping is the identity
    styles = torch.stack([torch.full((48, 48, 3), v) for v in (0.2, 0.5, 0.8)])
    keys = [0, 3, 6]
    spec = GuideSpec(guides=("warp",))
    train = training_guides(still, spec, keys, keyframes=styles).numpy()
    assert np.allclose(train[0], 0.5, atol=1e-4)   # keyframe 0 sees keyframe 3, its only neighbour
    assert np.allclose(train[1], 0.5, atol=1e-4)   # keyframe 3 sees 0 and 6 at equal distance: (0.2 + 0.8) / 2
    assert np.allclose(train[2], 0.5, atol=1e-4)
    infer = compute_guides(still, spec, keys, keyframes=styles).numpy()
    assert np.allclose(infer[3], 0.5) and np.allclose(infer[4], 0.5 + (0.8 - 0.5) / 3, atol=1e-4)


def test_warp_guide_at_inference_is_the_keyframe_stylization_moved_with_the_content():
    frames, _ = translating_clip(5, 64, 64, dx=2, dy=0)
    styles = frames[[0]].flip(-1)  # a "stylization" that moves like the frame
    g = compute_guides(frames, GuideSpec(guides=("warp",)), [0], keyframes=styles).numpy()
    assert np.abs(g[4] - frames[4].flip(-1).numpy())[8:-8, 12:-8].mean() < 0.01


def test_edge_guide_marks_a_step_and_not_flat_areas():
    img = torch.zeros(1, 32, 32, 3)
    img[:, :, 16:] = 1.0
    e = compute_guides(img, GuideSpec(guides=("edges",)), [0])[0, ..., 0]
    assert e[:, 15:17].min() > 0.9
    assert e[:, :10].max() < 1e-3 and e[:, 24:].max() < 1e-3


def test_denoise_guide_reduces_noise_on_moving_content_without_blurring_it():
    clean, _ = translating_clip(7, 64, 64, dx=2, dy=1)
    rng = np.random.default_rng(0)
    noisy = (clean + torch.from_numpy(rng.normal(0, 0.03, clean.shape).astype(np.float32))).clamp(0, 1)
    spec = GuideSpec(guides=("denoise",), denoise_radius=2, denoise_sigma=0.15)
    d = compute_guides(noisy, spec, [0]).numpy()[3]
    inner = (slice(10, -10), slice(10, -10))
    before = np.abs(noisy[3].numpy() - clean[3].numpy())[inner].mean()
    after = np.abs(d - clean[3].numpy())[inner].mean()
    assert after < 0.7 * before


def test_one_frame_keyframe_gets_its_static_pattern():
    frame = torch.rand(1, 32, 40, 3)
    g = compute_guides(frame, ALL, [0], keyframes=frame.flip(-1))
    assert g.shape == (1, 32, 40, ALL.channels)
    part = {name: g[0, ..., a:b] for name, a, b in ALL.layout}
    assert torch.allclose(part["denoise"], frame[0])         # denoise of a lone frame: the frame
    assert torch.allclose(part["warp"], frame[0].flip(-1))   # warp: the keyframe's stylization


def test_masks_keep_the_blobs_inside_the_mask():
    frames, _ = translating_clip(3, 48, 48, 1, 0)
    mask = torch.zeros(1, 48, 48)
    mask[0, 10:30, 5:25] = 1.0
    g = compute_guides(frames, GuideSpec(guides=("gauss",)), [0], masks=mask)
    assert g[0][mask[0] == 0].max() == 0.0 and g[0][mask[0] == 1].max() > 0.3
    per_frame = torch.zeros(3, 48, 48)
    per_frame[0] = mask[0]
    assert torch.equal(compute_guides(frames, GuideSpec(guides=("gauss",)), [0], masks=per_frame), g)


def test_progress_reaches_the_total_and_a_raise_cancels(clip):
    seen = []
    compute_guides(clip, GuideSpec(guides=("gauss", "edges")), [0], on_progress=seen.append)
    assert all(isinstance(p, GuideProgress) for p in seen)
    flow = [p for p in seen if p.stage == "flow"]
    guides = [p for p in seen if p.stage == "guides"]
    assert flow[-1].done == flow[-1].total == 6 and guides[-1].done == guides[-1].total
    assert [p.done for p in guides] == sorted(p.done for p in guides)

    class Cancelled(Exception):
        pass

    def cancel(p):
        raise Cancelled

    with pytest.raises(Cancelled):
        compute_guides(clip, GuideSpec(guides=("gauss",)), [0], on_progress=cancel)


def test_fill_invalid_keeps_valid_values_and_fills_holes_within_their_range():
    values = np.dstack([np.tile(np.linspace(0, 10, 40, dtype=np.float32), (30, 1))] * 2)
    weight = np.ones((30, 40), np.float32)
    weight[10:20, 15:25] = 0.0
    out = fill_invalid(values, weight)
    assert np.allclose(out[weight == 1], values[weight == 1], atol=1e-5)
    hole = out[10:20, 15:25, 0]
    assert hole.min() >= values[10:20, 14, 0].min() - 1e-4 and hole.max() <= values[10:20, 25, 0].max() + 1e-4


# ---- bad input: clear errors -------------------------------------------------------------------------


def test_keyframes_outside_the_sequence_are_refused(clip):
    with pytest.raises(KeyframeError, match=r"from 0 to 6 .*received \[7\]"):
        compute_guides(clip, ALL, [0, 7], keyframes=clip[:2])
    with pytest.raises(KeyframeError, match="at least one keyframe"):
        compute_guides(clip, GuideSpec(guides=("gauss",)), [])
    with pytest.raises(KeyframeError, match="once"):
        compute_guides(clip, GuideSpec(guides=("gauss",)), [2, 2])


def test_frames_of_different_sizes_are_refused():
    with pytest.raises(FramesError, match="one size"):
        compute_guides([torch.rand(32, 32, 3), torch.rand(32, 40, 3)], GuideSpec(), [0])
    with pytest.raises(FramesError, match=r"\[T, H, W, 3\]"):
        compute_guides(torch.rand(3, 32, 32), GuideSpec(), [0])


def test_stylized_keyframes_must_match_for_the_warp_guide(clip):
    spec = GuideSpec(guides=("warp",))
    with pytest.raises(KeyframeError, match="received none"):
        compute_guides(clip, spec, [0])
    with pytest.raises(KeyframeError, match="frames' size 64x64"):
        compute_guides(clip, spec, [0], keyframes=torch.rand(1, 32, 32, 3))
    with pytest.raises(KeyframeError, match="one stylized image per keyframe"):
        compute_guides(clip, spec, [0, 3], keyframes=torch.rand(1, 64, 64, 3))
    with pytest.raises(GuideError, match="at least two keyframes"):
        training_guides(clip, spec, [0], keyframes=clip[:1])


def test_masks_of_the_wrong_size_or_empty_are_refused(clip):
    spec = GuideSpec(guides=("gauss",))
    with pytest.raises(MaskError, match=r"expected shape \[1, 64, 64\].*received \[1, 32, 32\]"):
        compute_guides(clip, spec, [0], masks=torch.ones(1, 32, 32))
    with pytest.raises(MaskError, match="empty"):
        compute_guides(clip, spec, [0], masks=torch.zeros(1, 64, 64))


def test_a_flow_of_other_frames_or_settings_is_refused(clip):
    spec = GuideSpec(guides=("gauss",))
    with pytest.raises(GuideError, match="flow of 6 frames"):
        compute_guides(clip, spec, [0], flow=compute_flow(clip[:6]))
    with pytest.raises(GuideError, match="preset 'balanced'"):
        compute_guides(clip, spec, [0], flow=compute_flow(clip, "balanced"))


def test_bad_shots_are_refused(clip):
    with pytest.raises(GuideError, match="covering 0..7"):
        compute_guides(clip, GuideSpec(guides=("gauss",)), [0], shots=[(0, 3), (4, 7)])
