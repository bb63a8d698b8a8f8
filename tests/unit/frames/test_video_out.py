"""Writing a stylized clip as a video: H.264 MP4 through PyAV with the source's audio and the workflow's tags, or
OpenCV's mp4v, said plainly, where PyAV is missing."""
import json
import sys

import numpy as np
import pytest

from patch_training.frames.sources import FrameSource
from patch_training.frames.writers import FrameWriter
from patch_training.pipeline.stylize_files import output_writer
from support import probe_video, write_clip_with_audio


def ramp(t: int, size=(48, 64)) -> np.ndarray:
    h, w = size
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None]
    image[..., 1] = 20 * (t % 12)
    image[..., 2] = np.linspace(255, 0, h, dtype=np.uint8)[:, None]
    return image


def write_all(writer: FrameWriter, count: int, size=(48, 64)) -> list[np.ndarray]:
    images = [ramp(t, size) for t in range(count)]
    for t, image in enumerate(images):
        writer.write(f"{t:05d}.png", image)
    writer.commit()
    return images


def test_an_mp4_is_browser_playable_h264_with_the_source_audio_and_the_workflow(tmp_path):
    source = FrameSource(write_clip_with_audio(tmp_path / "clip.mp4", 25, audio="aac"))
    metadata = {"prompt": {"1": {"class_type": "PatchToonStylizeFile"}}, "workflow": {"nodes": [{"id": 1}]}}
    writer = output_writer(tmp_path / "out.mp4", source, metadata=metadata)
    images = write_all(writer, 25)
    seen = probe_video(tmp_path / "out.mp4")
    assert (seen["codec"], seen["pix_fmt"], seen["size"], seen["fps"]) == ("h264", "yuv420p", (48, 64), 25.0)
    assert seen["faststart"] and writer.codec == "h264" and writer.notes == []
    assert seen["audio"] == "aac" and seen["audio_seconds"] == pytest.approx(1.0, abs=0.05)
    assert json.loads(seen["metadata"]["prompt"]) == metadata["prompt"]
    assert json.loads(seen["metadata"]["workflow"]) == metadata["workflow"]
    error = np.abs(np.stack(seen["frames"]).astype(int) - np.stack(images)).mean()
    assert len(seen["frames"]) == 25 and error < 3  # the colours survive the trip through yuv420p


def test_audio_that_mp4_cannot_hold_as_it_is_is_re_encoded_to_aac(tmp_path):
    source = FrameSource(write_clip_with_audio(tmp_path / "clip.mkv", 25, audio="libopus"))
    writer = output_writer(tmp_path / "out.mp4", source)
    write_all(writer, 25)
    seen = probe_video(tmp_path / "out.mp4")
    assert seen["audio"] == "aac" and seen["audio_seconds"] == pytest.approx(1.0, abs=0.06)
    assert writer.notes == ["the source's opus audio was re-encoded to AAC"]


def test_a_source_without_audio_and_a_folder_of_frames_give_a_silent_video(tmp_path):
    source = FrameSource(write_clip_with_audio(tmp_path / "silent.mp4", 10, audio=None))
    write_all(output_writer(tmp_path / "a.mp4", source), 10)
    assert probe_video(tmp_path / "a.mp4")["audio"] is None
    write_all(FrameWriter(tmp_path / "b.mp4"), 10)
    assert probe_video(tmp_path / "b.mp4")["audio"] is None


def test_another_frame_rate_leaves_the_audio_out_and_says_why(tmp_path):
    source = FrameSource(write_clip_with_audio(tmp_path / "clip.mp4", 25))
    writer = output_writer(tmp_path / "out.mp4", source, fps=12.5)
    write_all(writer, 25)
    seen = probe_video(tmp_path / "out.mp4")
    assert seen["audio"] is None and seen["fps"] == 12.5
    assert any("audio" in note and "fps 12.5" in note for note in writer.notes)


def test_odd_frame_sizes_are_padded_by_repeating_the_edge_never_stretched(tmp_path):
    writer = FrameWriter(tmp_path / "out.mp4")
    images = write_all(writer, 5, size=(47, 63))
    seen = probe_video(tmp_path / "out.mp4")
    assert seen["size"] == (48, 64) and seen["codec"] == "h264"
    frame, image = seen["frames"][2].astype(int), images[2].astype(int)
    assert np.abs(frame[:47, :63] - image).mean() < 3  # the picture is where it was, at its own scale
    assert np.abs(frame[:47, 63] - image[:, 62]).mean() < 4 and np.abs(frame[47, :63] - image[46]).mean() < 4
    assert len(writer.notes) == 1 and "63x47" in writer.notes[0] and "64x48" in writer.notes[0]


def test_without_pyav_the_video_is_opencv_mp4v_and_the_writer_says_so(tmp_path, monkeypatch):
    source = FrameSource(write_clip_with_audio(tmp_path / "clip.mp4", 10))
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` raises ImportError, as where PyAV is missing
    writer = output_writer(tmp_path / "out.mp4", source, metadata={"prompt": {}})
    write_all(writer, 10)
    monkeypatch.undo()
    seen = probe_video(tmp_path / "out.mp4")
    assert seen["codec"] == "mpeg4" and writer.codec == "mp4v"  # MPEG-4 part 2, OpenCV's fourcc mp4v
    assert seen["audio"] is None and "prompt" not in seen["metadata"] and len(seen["frames"]) == 10
    assert len(writer.notes) == 1 and "mp4v" in writer.notes[0] and "browsers" in writer.notes[0]
    assert "pip install av" in writer.notes[0]


def test_an_avi_stays_opencv_mjpg_with_nothing_to_say(tmp_path):
    writer = FrameWriter(tmp_path / "out.avi")
    write_all(writer, 3)
    assert writer.codec == "MJPG" and writer.notes == []


def test_a_cancelled_video_leaves_nothing_and_the_source_is_closed(tmp_path):
    source = FrameSource(write_clip_with_audio(tmp_path / "clip.mp4", 10))
    writer = output_writer(tmp_path / "out.mp4", source)
    writer.write("00000.png", ramp(0))
    writer.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
