"""LiveSession from Python, as a ComfyUI panel would drive it: keyframes given by the caller, no folder."""
import time

import pytest
import torch

from patch_training import LiveSession, LiveSettings, PatchToonError, StyleModel, TrainOptions
from support import write_frames


def _until(predicate, what: str, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture()
def frames(tmp_path):
    write_frames(tmp_path / "frames", count=6, size=(40, 48))
    return tmp_path / "frames"


def test_a_session_takes_keyframes_from_its_caller_and_keeps_a_model(frames):
    said = []
    session = LiveSession(frames, None, TrainOptions(guides="rgb", threads=1, prior="none"),
                          settings=LiveSettings(strip_frames=3, refresh_s=0.1, max_share=1.0), say=said.append)
    red = torch.zeros(40, 48, 3)
    red[..., 0] = 1.0
    session.replace_keyframe("00000.png", red)
    session.start()
    try:
        _until(lambda: session.steps > 2 and session.refreshes > 1, "training and a refresh")
        indices, strip = session.strip()
        assert indices == [0, 2, 5] and list(strip.shape) == [3, 40, 48, 3]
        session.replace_keyframe(5, red.to(torch.float32))
        session.replace_keyframe(3, torch.zeros(20, 20, 3))  # another aspect ratio: refused, named
        _until(lambda: len(session.keyframes()) == 2 and any("not taken" in line for line in said),
               "the second keyframe and the refusal")
        assert any("00003" in line and "not taken" in line for line in said)
        model = session.keep_model()
        assert isinstance(model, StyleModel) and model.summary.keyframe_indices == [0, 5]
        session.remove_keyframe(0)
        _until(lambda: list(session.keyframes()) == ["00005.png"], "the removal")
        with pytest.raises(PatchToonError, match="frame number from 0 to 5"):
            session.replace_keyframe(6, red)
    finally:
        session.stop()
    assert not session.running


def test_the_stylized_strip_follows_a_new_style(frames):
    session = LiveSession(frames, None, TrainOptions(guides="rgb", threads=1, prior="none"),
                          settings=LiveSettings(strip_frames=2, refresh_s=0.1, max_share=1.0))
    colour = torch.zeros(40, 48, 3)
    colour[..., 2] = 0.9
    session.replace_keyframe(0, colour)
    session.start()
    try:
        _until(lambda: session.strip()[1] is not None and float(session.strip()[1][..., 2].mean()) > 0.7
               and float(session.strip()[1][..., 0].mean()) < 0.2, "the strip to turn blue", 120)
        green = torch.zeros(40, 48, 3)
        green[..., 1] = 0.9
        session.replace_keyframe(0, green)
        _until(lambda: float(session.strip()[1][..., 1].mean()) > 0.7
               and float(session.strip()[1][..., 2].mean()) < 0.2, "the strip to turn green", 120)
    finally:
        session.stop()


def test_a_session_on_an_empty_folder_waits_for_its_first_keyframe(frames, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    said = []
    session = LiveSession(frames, keys, TrainOptions(guides="rgb", threads=1, prior="none"), tmp_path / "out",
                          LiveSettings(strip_frames=2, refresh_s=0.1), say=said.append)
    session.start()
    try:
        assert session.steps == 0 and any("no complete keyframe" in line for line in said)
        assert not (tmp_path / "out" / "status.json").exists()
        write_frames(tmp_path / "painted", count=1, size=(40, 48), seed=3)
        (tmp_path / "painted" / "00000.png").rename(keys / "00002.png")
        _until(lambda: session.steps > 0 and (tmp_path / "out" / "status.json").exists(), "the first keyframe")
        assert list(session.keyframes()) == ["00002.png"]
    finally:
        session.stop()


def test_a_keyframe_is_checked_before_it_is_queued_and_read_back_once_taken(frames):
    from patch_training import KeyframeError

    session = LiveSession(frames, None, TrainOptions(guides="rgb", threads=1, prior="none"),
                          settings=LiveSettings(strip_frames=2, refresh_s=0.1, max_share=1.0))
    with pytest.raises(KeyframeError, match="48x40"):
        session.check_keyframe(1, torch.zeros(40, 40, 3))  # another aspect ratio, refused before anything is queued
    assert session.check_keyframe(1, torch.zeros(80, 96, 3, dtype=torch.uint8)) == [
        "keyframes resized from 96x80 to the frame size 48x40"]
    assert session.keyframe_image(1) is None
    blue = torch.zeros(40, 48, 3)
    blue[..., 2] = 1.0
    session.replace_keyframe(1, blue)
    session.start()
    try:
        _until(lambda: session.keyframe_image(1) is not None, "the keyframe taken")
        assert torch.equal(session.keyframe_image("00001.png"), blue) and session.keyframe_image(0) is None
    finally:
        session.stop()


def test_a_caller_from_another_thread_waits_one_training_step_at_most(tmp_path):
    # The training loop takes its lock again right after each step; without the turnstile a panel's Keep (or the
    # server's status route) waited for dozens of steps, once for minutes on a loaded 2-core machine.
    write_frames(tmp_path / "frames", count=6, size=(64, 64))
    session = LiveSession(tmp_path / "frames", None, TrainOptions(guides="rgb", threads=1, prior="none"),
                          settings=LiveSettings(strip_frames=2, refresh_s=0.1, max_share=1.0))
    red = torch.zeros(64, 64, 3)
    red[..., 0] = 1.0
    session.replace_keyframe(0, red)
    session.start()
    try:
        _until(lambda: session.steps > 4, "training")
        waited = []
        for _ in range(30):
            before = session.steps
            waited.append(session.keep_model().summary.steps - before)
            session.keyframes(), session.strip()  # never wait for the training thread at all
    finally:
        session.stop()
    assert max(waited) <= 3, f"steps trained while a caller waited for the lock: {waited}"


def _keyframes(*styles):
    from patch_training.pipeline.live_keyframes import LiveKeyframes
    keys = LiveKeyframes(torch.rand(8, 16, 20, 3, generator=torch.Generator().manual_seed(0)))
    for frame, image in styles:
        keys.queue_set(frame, image, f"{frame:05d}.png")
    keys.take(print, now=0.0)
    return keys


def test_a_keyframe_painted_over_in_places_is_kept_and_one_in_another_style_is_not():
    """What decides a live session's schedule: a repaint continues warm, another style restarts cold."""
    grey = torch.full((16, 20, 3), 0.5)
    keys = _keyframes((0, grey))
    stroke = grey.clone()
    stroke[4:8, 2:12] = 1.0  # 12 % of the pixels
    keys.queue_set(0, stroke, "00000.png")
    assert keys.take(print, now=100.0) == (["saved over 00000.png (sha256 " + keys.hashes[0][1][:12] + ")"], [0])
    keys.queue_set(0, torch.zeros(16, 20, 3), "00000.png")  # every pixel changed
    assert keys.take(print, now=200.0)[1] == []


def test_keyframes_saved_over_one_after_the_other_count_as_one_change_within_a_burst():
    from patch_training.pipeline.live_keyframes import BURST_SECONDS
    grey = torch.full((16, 20, 3), 0.5)
    keys = _keyframes((0, grey), (7, grey))
    keys.queue_set(0, 1 - grey * 2, "00000.png")
    assert keys.take(print, now=10.0)[1] == [7]  # frame 7 still holds the style trained on
    keys.queue_set(7, 1 - grey * 2, "00007.png")
    assert keys.take(print, now=10.0 + BURST_SECONDS / 2)[1] == []  # both replaced: another style
    keys.queue_set(0, grey, "00000.png")
    assert keys.take(print, now=10.0 + BURST_SECONDS * 3)[1] == [7]  # a new burst: frame 7 kept


def test_the_strip_is_the_model_stylizing_at_the_trained_size_then_shrunk(frames):
    """The network sees frames at the scale it learns (a smaller input would show another stylization than the
    model gives); only the picture is shrunk to strip_side."""
    from patch_training.stylize import stylize
    from patch_training.train.progress import scaled_input
    session = LiveSession(frames, None, TrainOptions(guides="rgb", threads=1, prior="none"),
                          settings=LiveSettings(strip_frames=3, refresh_s=0.1, max_share=1.0, strip_side=24))
    session.replace_keyframe(0, torch.rand(40, 48, 3, generator=torch.Generator().manual_seed(3)))
    session.start()
    try:
        _until(lambda: session.steps > 20 and session.refreshes > 1, "training and a refresh")
    finally:
        session.stop()
    indices, strip = session.strip()
    assert list(strip.shape) == [3, 20, 24, 3]
    full = stylize(session.keep_model(), session.frames[indices])
    expected = scaled_input(full, None, [0, 1, 2], 24)
    assert torch.allclose(session.render(indices, max_side=24), expected, atol=1e-5)
