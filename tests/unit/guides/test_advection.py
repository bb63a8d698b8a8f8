"""The advected Gaussian-blob guide follows the motion of the content, forwards and backwards."""
import cv2
import numpy as np
import pytest
import torch

from patch_training.guides import GuideSpec, compute_flow, compute_guides
from patch_training.guides.synthetic import move_image, rotating_clip, translating_clip

# The laws of advection are checked on 'balanced' flow (finest pyramid scale 1/2): the tolerances below are
# those of the advection, not of a coarse flow on these small clips. The default 'fast' flow (scale 1/4) is
# checked by its own law with wider tolerances, and the flow presets' accuracy in test_guides_flow.py.
GAUSS = GuideSpec(guides=("gauss",), flow_preset="balanced")


def _seen_from_frame0(motion: np.ndarray, h: int, w: int, margin: int) -> np.ndarray:
    """[H, W] bool: pixels of frame t whose content was inside frame 0, `margin` px from its border."""
    inv = cv2.invertAffineTransform(motion)
    ys, xs = np.mgrid[0:h, 0:w]
    px, py = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2], inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    return (px >= margin) & (px <= w - 1 - margin) & (py >= margin) & (py <= h - 1 - margin)


def _follows_motion(guides: np.ndarray, motions, source: int, margin: int = 8):
    """Per frame: (mean, 99th percentile) of |guide[t] - guide[source] moved by the known motion|."""
    h, w = guides.shape[1:3]
    out = []
    for t in range(len(guides)):
        rel = np.vstack([motions[t], [0, 0, 1]]) @ np.linalg.inv(np.vstack([motions[source], [0, 0, 1]]))
        expected = move_image(guides[source], rel[:2])
        err = np.abs(expected - guides[t])[_seen_from_frame0(rel[:2], h, w, margin)]
        out.append((err.mean(), np.percentile(err, 99)))
    return out


@pytest.mark.parametrize("scale", [1, 2])
def test_gauss_guide_moves_with_a_known_translation(scale):
    frames, motions = translating_clip(8, 96, 96, dx=2, dy=-1)
    spec = GuideSpec(guides=("gauss",), flow_scale=scale, flow_preset="balanced")
    guides = compute_guides(frames, spec, [0]).numpy()
    for mean, p99 in _follows_motion(guides, motions, source=0):
        assert mean < 0.01 and p99 < 0.06


def test_with_the_default_flow_the_gauss_guide_still_moves_with_the_content():
    assert GuideSpec().flow_preset == "fast"
    frames, motions = translating_clip(8, 96, 96, dx=2, dy=-1)
    guides = compute_guides(frames, GuideSpec(guides=("gauss",)), [0]).numpy()
    for mean, p99 in _follows_motion(guides, motions, source=0):
        assert mean < 0.02 and p99 < 0.1
    frames, motions = rotating_clip(9, 128, 128, degrees=2.0)
    guides = compute_guides(frames, GuideSpec(guides=("gauss",)), [0]).numpy()
    for mean, p99 in _follows_motion(guides, motions, source=0, margin=12):
        assert mean < 0.03 and p99 < 0.15


def test_gauss_guide_moves_with_a_known_rotation():
    frames, motions = rotating_clip(9, 128, 128, degrees=2.0)
    guides = compute_guides(frames, GAUSS, [0]).numpy()
    for mean, p99 in _follows_motion(guides, motions, source=0, margin=12):
        assert mean < 0.02 and p99 < 0.1


def test_gauss_guide_is_advected_backwards_from_a_later_keyframe():
    frames, motions = translating_clip(7, 96, 96, dx=-2, dy=2)
    guides = compute_guides(frames, GAUSS, [6]).numpy()
    for mean, p99 in _follows_motion(guides, motions, source=6):
        assert mean < 0.01 and p99 < 0.06


def test_forward_then_backward_advection_returns_to_the_start():
    # a palindrome clip: frames 0..6 then back to 0; the guide travels out and home again
    frames, _ = rotating_clip(7, 96, 96, degrees=2.5)
    there_and_back = torch.cat([frames, frames.flip(0)[1:]])
    guides = compute_guides(there_and_back, GAUSS, [0]).numpy()
    err = np.abs(guides[-1] - guides[0])[10:-10, 10:-10]
    assert err.mean() < 0.01 and np.percentile(err, 99) < 0.05


def test_guide_at_a_keyframe_is_its_pattern_and_between_keyframes_stays_on_the_motion():
    frames, motions = translating_clip(9, 96, 96, dx=2, dy=1)
    both = compute_guides(frames, GAUSS, [0, 8]).numpy()
    first = compute_guides(frames, GAUSS, [0]).numpy()
    assert np.array_equal(both[0], first[0])
    # chained: the later keyframe inherits the advected blobs, so the merge still follows the motion
    for mean, p99 in _follows_motion(both, motions, source=0):
        assert mean < 0.01 and p99 < 0.06


def test_unchained_keyframes_each_keep_their_own_pattern_and_blend_by_distance():
    frames = torch.rand(1, 64, 64, 3).expand(5, -1, -1, -1).contiguous()  # a still clip: flow is zero
    spec = GuideSpec(guides=("gauss",), gauss_chain=False)
    guides = compute_guides(frames, spec, [0, 4]).numpy()
    alone0 = compute_guides(frames, spec, [0]).numpy()[0]
    alone4 = compute_guides(frames, spec, [4]).numpy()[4]
    assert np.allclose(guides[0], alone0) and np.allclose(guides[4], alone4)
    assert not np.allclose(alone0, alone4, atol=0.05)
    for t in (1, 2, 3):  # weights (4 - t) / 4 and t / 4
        assert np.allclose(guides[t], (4 - t) / 4 * alone0 + t / 4 * alone4, atol=2e-3)


def test_disoccluded_background_does_not_pop():
    # a square moves right over a static background, uncovering it; the guide at each pixel of the
    # uncovered background must not change from frame to frame once it is visible
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur(rng.random((96, 96, 3)).astype(np.float32), (0, 0), 2)
    fg = cv2.GaussianBlur(rng.random((32, 32, 3)).astype(np.float32), (0, 0), 1)[..., ::-1]
    frames = []
    for t in range(8):
        f = bg.copy()
        f[32:64, 20 + 3 * t:52 + 3 * t] = fg
        frames.append(f)
    frames = torch.from_numpy(np.stack(frames))
    guides = compute_guides(frames, GAUSS, [0]).numpy()
    for t in range(1, 7):
        # background visible in both t and t+1 (away from the square's edges by 3 px)
        visible = np.ones((96, 96), bool)
        visible[29:67, 17 + 3 * t:55 + 3 * (t + 1)] = False
        step = np.abs(guides[t + 1] - guides[t])[visible]
        assert step.mean() < 0.01 and np.percentile(step, 99) < 0.06


def test_guides_are_deterministic_for_a_seed_and_differ_across_seeds():
    frames, _ = rotating_clip(4, 64, 64, degrees=2.0)
    spec = GuideSpec(guides=("gauss", "edges", "denoise"), seed=3)
    a = compute_guides(frames, spec, [1])
    b = compute_guides(frames, GuideSpec.from_dict(spec.to_dict()), [1])
    c = compute_guides(frames, GuideSpec(guides=spec.guides, seed=4), [1])
    assert torch.equal(a, b)
    assert not torch.allclose(a[..., :3], c[..., :3], atol=0.05)
    assert torch.equal(a[..., 3:], c[..., 3:])  # the seed only moves the blobs


def test_guides_never_cross_a_shot_cut():
    a, _ = translating_clip(4, 64, 64, 2, 1, seed=1)
    b, _ = rotating_clip(4, 64, 64, 2.0, seed=2)
    frames = torch.cat([a, b])
    whole = compute_guides(frames, GAUSS, [0, 6]).numpy()
    first = compute_guides(a, GAUSS, [0]).numpy()
    assert np.allclose(whole[:4], first, atol=1e-6)  # shot 1 sees keyframe 0 only, not keyframe 6
    alone = compute_guides(frames, GAUSS, [6]).numpy()
    assert np.allclose(whole[4:], alone[4:], atol=1e-6)  # shot 2 sees keyframe 6 only


def test_a_shot_without_keyframe_borrows_the_nearest_pattern_from_its_first_frame():
    a, _ = translating_clip(4, 64, 64, 2, 1, seed=1)
    b, _ = rotating_clip(4, 64, 64, 2.0, seed=2)
    guides = compute_guides(torch.cat([a, b]), GAUSS, [1]).numpy()
    assert np.array_equal(guides[4], guides[1])  # the keyframe's pattern, placed where shot 2 starts
    assert not np.allclose(guides[7], guides[4], atol=0.02)  # and advected along shot 2's rotation


def test_flow_can_be_computed_once_and_reused():
    frames, _ = translating_clip(5, 64, 64, 1, 1)
    spec = GuideSpec(guides=("gauss", "denoise"))
    flow = compute_flow(frames, spec.flow_preset, spec.flow_scale)
    assert torch.equal(compute_guides(frames, spec, [2], flow=flow), compute_guides(frames, spec, [2]))
