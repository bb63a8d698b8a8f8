"""Stylizing from files: one path for the command line, Stylize Video File and the batch; what it writes."""
import numpy as np
import pytest

from patch_training.config import StylizeOptions
from patch_training.errors import MemoryLimitError
from patch_training.frames.sources import FrameSource, to_uint8
from patch_training.frames.writers import FrameWriter
from patch_training.memory import MEMORY_LIMIT_ENV
from patch_training.pipeline.stylize_files import output_names, stylize_files, stylize_segment
from patch_training.stylize import stylize
from patch_training.stylize.segments import Segment
from support import random_model, write_frames


@pytest.mark.parametrize("ext", ["png", "jpg", "webp"])
def test_stylized_frames_are_lossless_pngs_named_like_their_frames(tmp_path, ext):
    write_frames(tmp_path / "clip", 3, ext=ext)
    source = FrameSource(tmp_path / "clip")
    assert output_names(source, 3) == [f"{stem}.png" for stem in source.stems]


def test_every_writer_gets_the_frames_that_whole_clip_stylization_gives(tmp_path):
    write_frames(tmp_path / "clip", 5, size=(40, 56))
    source, model = FrameSource(tmp_path / "clip"), random_model()
    writers = [FrameWriter(tmp_path / "out"), FrameWriter(tmp_path / "copy")]
    seen = []
    written = stylize_files(model, source, writers, StylizeOptions(batch_size=2), on_frame=lambda t, _: seen.append(t))
    expected = to_uint8(stylize(model, source.read_all()))
    for folder in ("out", "copy"):
        stored = FrameSource(tmp_path / folder)
        assert stored.names == output_names(source, 5)
        assert np.array_equal(to_uint8(stored.read_all()), expected)
    assert written == 5 and seen == [0, 1, 2, 3, 4]


def test_a_failure_part_way_leaves_no_frame_behind(tmp_path):
    write_frames(tmp_path / "clip", 6)
    writer = FrameWriter(tmp_path / "out")

    def cancel(done, _total):
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stylize_files(random_model(), FrameSource(tmp_path / "clip"), [writer], StylizeOptions(batch_size=1),
                      on_progress=cancel)
    assert not (tmp_path / "out").exists() and list(tmp_path.glob(".out*")) == []


def test_work_that_does_not_fit_is_refused_before_a_frame_is_read(tmp_path, monkeypatch):
    write_frames(tmp_path / "clip", 2)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1")
    with pytest.raises(MemoryLimitError, match="stylizing frames of 56x40"):
        stylize_files(random_model(), FrameSource(tmp_path / "clip"), [FrameWriter(tmp_path / "out")])
    assert not (tmp_path / "out").exists() and list(tmp_path.glob(".out*")) == []


def test_segments_written_apart_make_the_whole_clip(tmp_path):
    write_frames(tmp_path / "clip", 7)
    source, model = FrameSource(tmp_path / "clip"), random_model()
    for segment in (Segment(0, 0, 3), Segment(3, 3, 7)):
        stylize_segment(model, source, segment, 7, tmp_path / "out", options=StylizeOptions(batch_size=3))
    whole = to_uint8(stylize(model, source.read_all()))
    assert np.array_equal(to_uint8(FrameSource(tmp_path / "out").read_all()), whole)
