"""Keyframe suggestion: every shot first, exactly K new frames, deterministic, `have` respected, clear refusals."""
import numpy as np
import pytest
import torch

import patch_training.frames.suggest as suggest_module
from patch_training.errors import ConfigError, FramesError, KeyframeError
from patch_training.guides import compute_flow, detect_shots
from patch_training.guides.synthetic import rotating_clip, translating_clip
from patch_training.frames.selection import parse_indices
from patch_training.frames.suggest import ClipFeatures, choose, suggest_keyframes


def three_shots():
    """Shots of 12, 6 and 20 frames: a translation, a rotation of another texture in blue, a translation in red."""
    a, _ = translating_clip(12, 72, 96, 2.0, -1.0, seed=1)
    b, _ = rotating_clip(6, 72, 96, 3.0, seed=2)
    c, _ = translating_clip(20, 72, 96, -1.5, 1.0, seed=3)
    return torch.cat([a, b * torch.tensor([0.3, 0.5, 1.0]), c * torch.tensor([1.0, 0.4, 0.3])])


SHOTS = [(0, 12), (12, 18), (18, 38)]


def shot_of(frame):
    return next(n for n, (a, b) in enumerate(SHOTS) if a <= frame < b)


def test_the_shots_are_those_the_guides_find():
    frames = three_shots()
    assert detect_shots(frames, compute_flow(frames)) == SHOTS
    assert suggest_keyframes(frames, 3).shots == SHOTS


@pytest.mark.parametrize("count", [3, 4, 7])
def test_every_shot_gets_a_keyframe_first(count):
    picked = suggest_keyframes(three_shots(), count).indices
    assert {shot_of(i) for i in picked} == {0, 1, 2}


def test_a_shot_of_two_frames_gets_its_keyframe_before_a_long_shot_gets_a_second():
    frames = three_shots()
    frames = torch.cat([frames[:12], frames[12:14], frames[18:]])  # shots of 12, 2 and 20 frames
    picked = suggest_keyframes(frames, 3).indices
    assert sum(12 <= i < 14 for i in picked) == 1, picked


def test_a_shot_counts_before_any_change_within_a_shot():
    # Two long shots that change a lot, and between them a one-frame shot that looks like its neighbours:
    # the distances alone would give the long shots a second keyframe each; the shot rule covers all three.
    t = 61
    ramp = np.concatenate([np.linspace(0, 3, 30), [1.5], np.linspace(0, 3, 30)])
    features = ClipFeatures(thumbs=np.zeros((t, 3), np.float32), colours=np.zeros((t, 64), np.float32),
                            motion=ramp, new_content=ramp, shots=[(0, 30), (30, 31), (31, 61)])
    picked, notes = choose(features, 3, [])
    assert 30 in picked and notes == []


def test_fewer_keyframes_than_shots_go_to_the_longest_shots_and_say_which_are_left():
    result = suggest_keyframes(three_shots(), 2)
    assert sorted(shot_of(i) for i in result.indices) == [0, 2]  # 12 and 20 frames, not the 6
    (note,) = result.notes
    assert "shots at frames 12-17 have none" in note and "1 more" in note


def test_a_shot_already_stylized_is_covered_and_the_others_come_first():
    picked = suggest_keyframes(three_shots(), 2, have=[5]).indices
    assert sorted(shot_of(i) for i in picked) == [1, 2]


@pytest.mark.parametrize("count", [1, 2, 3, 5, 9, 10])
def test_exactly_count_distinct_frames_in_range_ascending(count):
    frames, _ = translating_clip(10, 48, 48, 1.5, 0.5)
    picked = suggest_keyframes(frames, count).indices
    assert len(picked) == count == len(set(picked))
    assert picked == sorted(picked) and all(0 <= i < 10 for i in picked)


def test_the_same_frames_give_the_same_suggestion_tensor_or_stream():
    frames = three_shots()
    first = suggest_keyframes(frames, 5).indices
    assert suggest_keyframes(frames.clone(), 5).indices == first
    streamed = suggest_keyframes((f for f in frames.numpy()), 5)  # a generator: read once, never held
    assert streamed.indices == first


def test_have_is_never_suggested_again_and_count_more_are_added():
    frames = three_shots()
    for have in ([0], [3, 20], [0, 12, 18, 30]):
        result = suggest_keyframes(frames, 3, have=have)
        assert len(result.indices) == 3 and not set(result.indices) & set(have)
        assert result.keyframes == sorted(have + result.indices)


def test_have_as_select_frames_text_counts_from_the_end_too():
    frames = three_shots()
    assert suggest_keyframes(frames, 2, have="0, -1").have == [0, 37]
    assert suggest_keyframes(frames, 2, have="0, -1").indices == suggest_keyframes(frames, 2, have=[0, 37]).indices
    assert suggest_keyframes(frames, 2, have=" ").have == []


def test_asking_for_every_other_frame_gives_them_all():
    frames, _ = translating_clip(6, 40, 40, 1.0, 0.0)
    assert suggest_keyframes(frames, 4, have=[1, 4]).indices == [0, 2, 3, 5]


def test_an_even_motion_gives_evenly_spaced_keyframes():
    frames, _ = translating_clip(40, 64, 64, 1.0, 0.5)
    picked = suggest_keyframes(frames, 2).indices
    assert abs(picked[0] - 10) <= 3 and abs(picked[1] - 29) <= 3


def test_keyframes_go_where_the_camera_moves_and_new_content_enters():
    still, _ = translating_clip(1, 64, 64, 0.0, 0.0, seed=4)
    moving, _ = translating_clip(12, 64, 64, 4.0, 3.0, seed=4)  # from the same view, 5 px a frame
    frames = torch.cat([still.expand(28, -1, -1, -1), moving])  # 28 still frames, then the camera pans
    picked = suggest_keyframes(frames, 3).indices
    assert sum(i >= 28 for i in picked) >= 2, picked  # evenly spaced would give [6, 20, 33]


def test_a_long_clip_is_compared_on_a_sample_of_frames_and_still_covers_every_shot(monkeypatch):
    monkeypatch.setattr(suggest_module, "MAX_POINTS", 10)
    frames = three_shots()
    result = suggest_keyframes(frames, 4)
    assert len(set(result.indices)) == 4 and {shot_of(i) for i in result.indices} == {0, 1, 2}
    assert len(suggest_keyframes(frames, 30).indices) == 30


@pytest.mark.parametrize("count, expected", [
    (0, "count: expected how many keyframes to suggest, 1 or more, received 0"),
    (-2, "received -2"),
    (2.5, "received 2.5"),
])
def test_a_count_below_one_is_refused(count, expected):
    with pytest.raises(ConfigError, match=expected):
        suggest_keyframes(torch.rand(4, 16, 16, 3), count)


def test_a_count_larger_than_the_clip_is_refused():
    with pytest.raises(KeyframeError, match=r"count: expected at most 4, the frames left to choose from \(the clip "
                                            r"has 4 frames\), received 5"):
        suggest_keyframes(torch.rand(4, 16, 16, 3), 5)
    with pytest.raises(KeyframeError, match=r"at most 2, .*has 4 frames, 2 of them already stylized\), received 3"):
        suggest_keyframes(torch.rand(4, 16, 16, 3), 3, have=[0, 3])


def test_a_one_frame_clip_is_refused():
    with pytest.raises(FramesError, match="a clip of 1 frame has nothing to choose from"):
        suggest_keyframes(torch.rand(1, 16, 16, 3), 1)


@pytest.mark.parametrize("have, expected", [
    ([9], r"have: expected frame numbers from 0 to 7 \(the clip has 8 frames\), received \[9\]"),
    ([2, 2], r"have: each frame may be listed once, received \[2\]"),
    ("1, 2 to 5", "have: cannot read '2 to 5'"),
    ("12", r"have: expected frame numbers from 0 to 7 \(there are 8 frames\), received \[12\]"),
    (["a"], "have: expected frame numbers"),
])
def test_bad_have_is_named(have, expected):
    with pytest.raises((KeyframeError, FramesError), match=expected):
        suggest_keyframes(torch.rand(8, 16, 16, 3), 1, have=have)


def test_frames_of_another_shape_or_size_are_refused():
    with pytest.raises(FramesError, match=r"shape \[T, H, W, 3\]"):
        suggest_keyframes(torch.rand(4, 16, 16), 1)
    with pytest.raises(FramesError, match="frame 1 is 8x8, the first frame is 16x16"):
        suggest_keyframes(iter([np.zeros((16, 16, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)]), 1)
    with pytest.raises(FramesError, match="received none"):
        suggest_keyframes(iter([]), 1)


def test_the_select_frames_text_reads_back_as_the_indices():
    result = suggest_keyframes(three_shots(), 4)
    assert parse_indices(result.select_frames, 38) == result.indices
    assert result.as_dict()["select_frames"] == result.select_frames


def test_tiny_frames_without_optical_flow_still_get_a_suggestion():
    frames = torch.rand(6, 8, 10, 3, generator=torch.Generator().manual_seed(0))
    assert len(suggest_keyframes(frames, 2).indices) == 2


def test_progress_is_reported_per_frame():
    seen = []
    suggest_keyframes(torch.rand(3, 16, 16, 3), 1, on_progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_stream_of_frames_is_never_held():
    import gc
    import weakref

    alive = []

    def frames():
        for t in range(12):
            frame = np.full((120, 160, 3), 20 * t, np.uint8)
            alive.append(weakref.ref(frame))
            yield frame
            gc.collect()
            assert sum(r() is not None for r in alive) <= 2  # this frame and the one before, at most

    assert len(suggest_keyframes(frames(), 3).indices) == 3
