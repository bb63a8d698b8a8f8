import numpy as np
import pytest
from PIL import Image

from patch_training.errors import FramesError
from patch_training.frames.selection import (check_index_syntax, fit_size, format_indices, frame_range, parse_indices,
                                      read_frames)


@pytest.mark.parametrize("text,count,expected", [
    ("0, 24, 48", 50, [0, 24, 48]),
    ("48,0,24", 50, [48, 0, 24]),          # order is kept: stylized images are paired by position
    ("every 24", 50, [0, 24, 48]),
    ("Every 10", 25, [0, 10, 20]),
    ("3-6", 10, [3, 4, 5, 6]),
    ("0, -1", 32, [0, 31]),
    ("5; 7", 8, [5, 7]),
    (" 2 , ", 3, [2]),
])
def test_index_lists_read_as_frame_numbers_in_written_order(text, count, expected):
    assert parse_indices(text, count) == expected


@pytest.mark.parametrize("indices", [[0], [3, 1, 2], list(range(0, 100, 7))])
def test_formatted_indices_read_back_unchanged(indices):
    assert parse_indices(format_indices(indices), 100) == indices


@pytest.mark.parametrize("text,message", [
    ("", "expected at least one frame number"),
    ("  ,  ", "expected at least one frame number"),
    ("zero", "cannot read 'zero'"),
    ("every 0", "N of 1 or more"),
    ("9-3", "ends before it starts"),
    ("0, 40", r"from 0 to 31 \(there are 32 frames\), received \[40\]"),
    ("-33", r"received \[-1\]"),
    ("0, 0", "listed once"),
    ("every 8, 0", r"received \[0\] more than once"),
])
def test_bad_index_lists_are_refused_with_the_input_named(text, message):
    with pytest.raises(FramesError, match=message) as error:
        parse_indices(text, 32, name="indices")
    assert str(error.value).startswith("indices:")


def test_syntax_is_checked_without_knowing_the_frame_count():
    check_index_syntax("0, 10-20, every 5, -1")
    with pytest.raises(FramesError, match="keyframe_indices: cannot read 'x'"):
        check_index_syntax("1, x", name="keyframe_indices")


@pytest.mark.parametrize("total,start,count,nth,expected", [
    (10, 0, 0, 1, list(range(10))),
    (10, 2, 3, 1, [2, 3, 4]),
    (10, 1, 0, 4, [1, 5, 9]),
    (10, 9, 5, 2, [9]),
])
def test_frame_range_takes_every_nth_from_start_up_to_count(total, start, count, nth, expected):
    assert frame_range(total, start, count, nth) == expected


@pytest.mark.parametrize("kwargs,message", [({"start": 10}, "from 0 to 9"), ({"every_nth": 0}, "every_nth"),
                                            ({"count": -1}, "count")])
def test_impossible_frame_ranges_are_refused(kwargs, message):
    with pytest.raises(FramesError, match=message):
        frame_range(10, **kwargs)


@pytest.mark.parametrize("size,limit", [((350, 350), 256), ((1080, 1920), 512), ((401, 97), 100), ((20, 30), 0),
                                        ((20, 30), 64)])
def test_fit_size_bounds_the_longer_side_and_keeps_the_aspect_ratio(size, limit):
    h, w = fit_size(*size, limit)
    if not limit or max(size) <= limit:
        assert (h, w) == size
    else:
        assert max(h, w) == limit
        assert abs(h / w - size[0] / size[1]) < 2 / min(h, w)


def _clip(folder, count=6, size=(12, 16)):
    folder.mkdir()
    for i in range(count):
        Image.fromarray(np.full(size + (3,), 40 * i, np.uint8)).save(folder / f"f{i:03d}.png")
    return folder


def test_reading_a_folder_returns_the_chosen_frames_in_order(tmp_path):
    frames, names = read_frames(_clip(tmp_path / "clip"), start=1, count=2, every_nth=2)
    assert names == ["f001.png", "f003.png"]
    assert frames.shape == (2, 12, 16, 3)
    assert torch_close(frames[:, 0, 0, 0] * 255, [40, 120])


def test_reading_with_a_size_limit_downscales_every_frame(tmp_path):
    frames, _ = read_frames(_clip(tmp_path / "clip"), max_side=8)
    assert frames.shape == (6, 6, 8, 3)


def test_reading_a_video_skips_to_the_chosen_frames(tmp_path):
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    if not writer.isOpened():
        pytest.skip("no video encoder in this OpenCV build")
    for i in range(8):
        writer.write(np.full((24, 32, 3), 30 * i, np.uint8))
    writer.release()
    frames, names = read_frames(path, start=2, every_nth=3)
    assert names == ["00002.png", "00005.png"]
    assert torch_close(frames[:, 12, 16, 0] * 255, [60, 150], atol=6)


def test_a_frame_of_another_size_is_named(tmp_path):
    folder = _clip(tmp_path / "clip", count=2)
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(folder / "f009.png")
    with pytest.raises(FramesError, match="f009.png is 5x5"):
        read_frames(folder)


def torch_close(values, expected, atol=0.5):
    return all(abs(float(v) - e) <= atol for v, e in zip(values, expected))
