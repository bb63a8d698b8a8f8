"""Re-rendering only what an edit changed: an update over a previous output equals a full render, bit for bit,
and stylizes only the batches whose frames' network input changed."""
import json

import numpy as np
import pytest
import torch

from patch_training.config import StylizeOptions
from patch_training.frames.sources import FrameSource, to_uint8
from patch_training.frames.writers import FrameWriter
from patch_training.guides import GuideSpec
from patch_training.keyframes import Keyframes
from patch_training.pipeline.render_record import RECORD_NAME, RecordError, read_record
from patch_training.pipeline.stylize_files import stylize_files, update_files
from support import random_model, write_frames

KEYS = [0, 5, 10, 15]
OPTIONS = StylizeOptions(batch_size=2, device="cpu", precision="fp32", threads=1)


def keyed_model(spec: GuideSpec, size):
    model = random_model(guides=spec.channels)
    model.guides = spec.to_dict()
    model.summary = {"keyframe_indices": KEYS, "frame_size": list(size)}
    return model


def painted(source: FrameSource, edit: int | None = None) -> Keyframes:
    """The clip's keyframes 'painted' (colours inverted); keyframe `edit` painted differently (a red wash)."""
    images = source.read_all()[KEYS].clone()
    images = 1 - images
    if edit is not None:
        k = KEYS.index(edit)
        images[k, ..., 0] = images[k, ..., 0] * 0.3 + 0.7
    return Keyframes(tuple(KEYS), images)


def frames_of(folder):
    source = FrameSource(folder)
    return source.names, to_uint8(source.read_all())


@pytest.fixture
def clip(tmp_path):
    write_frames(tmp_path / "clip", 20, size=(48, 64))
    return FrameSource(tmp_path / "clip")


def update_and_full_render(tmp_path, clip, guides):
    """An output rendered with the keyframes as first painted, then updated after keyframe 10 is painted again;
    the same clip rendered afresh with the edited keyframes. Returns (the update's summary, the frames before,
    the updated frames, the fresh ones)."""
    model = keyed_model(GuideSpec(guides=guides), clip.size)
    stylize_files(model, clip, [FrameWriter(tmp_path / "out")], OPTIONS, painted(clip), record=True)
    before = frames_of(tmp_path / "out")[1]
    edited = painted(clip, edit=10)

    summary = update_files(model, clip, tmp_path / "out", [FrameWriter(tmp_path / "out", overwrite=True)], OPTIONS,
                           edited)
    stylize_files(model, clip, [FrameWriter(tmp_path / "full")], OPTIONS, edited, record=True)

    names, updated = frames_of(tmp_path / "out")
    full_names, full = frames_of(tmp_path / "full")
    assert names == full_names
    assert json.loads((tmp_path / "out" / RECORD_NAME).read_text()) == json.loads(
        (tmp_path / "full" / RECORD_NAME).read_text())
    return summary, before, updated, full


@pytest.mark.parametrize("guides", [("warp",), ("warp", "gauss", "edges")])
def test_an_update_after_a_keyframe_edit_equals_a_full_render_and_renders_only_its_segment(tmp_path, clip, guides):
    summary, before, updated, full = update_and_full_render(tmp_path, clip, guides)
    assert np.array_equal(updated, full)  # the law: bit-identical frames
    changed = {t for t in range(len(clip)) if not np.array_equal(before[t], full[t])}
    assert changed, "the edit must change some frames, or the test shows nothing"
    # The segments keyframe 10 feeds (5..15) at most, batch-aligned (batches of 2 start at even frames).
    assert 0 < summary.rendered <= 12 and summary.rendered < len(clip)
    assert "keyframe 10 changed" in summary.reason and "the model is the same" in summary.reason
    assert summary.message().startswith(f"{summary.rendered} of 20 frames re-rendered")


def test_the_page_guide_is_made_from_every_keyframe_so_an_edit_re_renders_every_frame(tmp_path, clip):
    summary, _, updated, full = update_and_full_render(tmp_path, clip, ("page", "edges"))
    assert np.array_equal(updated, full)
    assert summary.rendered == 20 and "keyframe 10 changed" in summary.reason


def test_gauss_depends_on_where_the_keyframes_are_not_what_is_painted(tmp_path, clip):
    model = keyed_model(GuideSpec(guides=("gauss", "edges")), clip.size)
    stylize_files(model, clip, [FrameWriter(tmp_path / "out")], OPTIONS, painted(clip), record=True)
    summary = update_files(model, clip, tmp_path / "out", [FrameWriter(tmp_path / "out", overwrite=True)], OPTIONS,
                           painted(clip, edit=10))
    assert summary.rendered == 0 and "keyframe" not in summary.reason


def test_a_changed_model_re_renders_every_frame_and_says_so(tmp_path, clip):
    spec = GuideSpec(guides=("warp",))
    stylize_files(keyed_model(spec, clip.size), clip, [FrameWriter(tmp_path / "out")], OPTIONS,
                  painted(clip), record=True)
    retrained = keyed_model(spec, clip.size)
    with torch.no_grad():
        next(retrained.generator.parameters()).add_(1e-3)
    summary = update_files(retrained, clip, tmp_path / "out", [FrameWriter(tmp_path / "out", overwrite=True)],
                           OPTIONS, painted(clip))
    stylize_files(retrained, clip, [FrameWriter(tmp_path / "full")], OPTIONS, painted(clip))
    assert summary.rendered == 20 and "the model changed" in summary.reason
    assert np.array_equal(frames_of(tmp_path / "out")[1], frames_of(tmp_path / "full")[1])


def test_other_settings_or_a_deleted_frame_re_render_what_they_touch(tmp_path, clip):
    model = random_model()
    stylize_files(model, clip, [FrameWriter(tmp_path / "out")], OPTIONS, record=True)
    (tmp_path / "out" / clip.names[7]).unlink()  # batch 6-7 is rendered again, the others kept
    summary = update_files(model, clip, tmp_path / "out", [FrameWriter(tmp_path / "out", overwrite=True)], OPTIONS)
    assert summary.rendered == 2 and "1 frame file missing" in summary.reason
    assert (tmp_path / "out" / clip.names[7]).is_file()
    other = StylizeOptions(batch_size=3, device="cpu", precision="fp32", threads=1)
    summary = update_files(model, clip, tmp_path / "out", [FrameWriter(tmp_path / "out", overwrite=True)], other)
    assert summary.rendered == 20 and "settings changed (batch)" in summary.reason


@pytest.mark.parametrize("damage,message", [(None, "has no render record"), ("{not json", "is damaged"),
                                            ('{"kind": "patch-toon render record", "format": 99}', "format 99")])
def test_a_missing_or_damaged_record_is_refused_with_the_fix(tmp_path, clip, damage, message):
    stylize_files(random_model(), clip, [FrameWriter(tmp_path / "out")], OPTIONS, record=True)
    record = tmp_path / "out" / RECORD_NAME
    if damage is None:
        record.unlink()
    else:
        record.write_text(damage)
    with pytest.raises(RecordError, match=message) as error:
        read_record(tmp_path / "out", "update_from")
    assert "update_from" in str(error.value) and "Render it afresh" in str(error.value)


def test_a_users_file_of_the_records_name_is_never_replaced(tmp_path, clip):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / RECORD_NAME).write_text("my notes")
    writer = FrameWriter(tmp_path / "out", overwrite=True)
    stylize_files(random_model(), clip, [writer], OPTIONS, record=True)
    assert (tmp_path / "out" / RECORD_NAME).read_text() == "my notes"
    assert any("render record was not written" in note for note in writer.notes)
