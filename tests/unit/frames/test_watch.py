"""The keyframe folder watcher takes a file only when it is complete, and says what was added, saved over or removed."""
import io
import os

import numpy as np
from PIL import Image

from patch_training.frames.watch import KeyframeFolderWatcher

STEMS = ["00000", "00001", "00002"]


def _png(seed: int, size=(24, 20)) -> tuple[bytes, np.ndarray]:
    image = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue(), image


def _jpeg(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _bump(path, ns: int) -> None:
    """A later modification time, as a save a moment later would leave (file systems with coarse times)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + ns))


def test_a_complete_file_is_taken_at_the_second_look_with_its_image_and_hash(tmp_path):
    data, image = _png(1)
    (tmp_path / "00001.png").write_bytes(data)
    watcher = KeyframeFolderWatcher(tmp_path, STEMS)
    assert not watcher.poll()  # seen once: it may still be growing
    assert watcher.waiting == ["00001.png"]
    changes = watcher.poll()
    assert list(changes.changed) == ["00001"]
    assert np.array_equal(changes.changed["00001"].image, image)
    assert len(changes.changed["00001"].sha256) == 64
    assert watcher.waiting == []
    assert not watcher.poll()  # nothing new


def test_a_half_written_png_is_never_taken_even_when_it_stays_still(tmp_path):
    data, image = _png(2)
    path = tmp_path / "00000.png"
    path.write_bytes(data[: len(data) // 2])  # an editor saving in place, paused half-way
    watcher = KeyframeFolderWatcher(tmp_path, STEMS)
    for _ in range(5):
        assert not watcher.poll()
    with open(path, "ab") as f:
        f.write(data[len(data) // 2:])
    _bump(path, 1_000_000)
    assert not watcher.poll()  # the new size is seen once first
    changes = watcher.poll()
    assert np.array_equal(changes.changed["00000"].image, image)


def test_a_png_missing_only_its_end_chunk_is_not_taken(tmp_path):
    data, _ = _png(3)
    (tmp_path / "00000.png").write_bytes(data[:-12])  # every pixel there, the IEND chunk not yet
    watcher = KeyframeFolderWatcher(tmp_path, STEMS)
    watcher.poll()
    assert not watcher.poll()


def test_a_half_written_jpeg_is_not_taken(tmp_path):
    data = _jpeg(4)
    (tmp_path / "00002.jpg").write_bytes(data[: len(data) * 2 // 3])
    watcher = KeyframeFolderWatcher(tmp_path, STEMS)
    watcher.poll()
    assert not watcher.poll()
    (tmp_path / "00002.jpg").write_bytes(data)
    _bump(tmp_path / "00002.jpg", 1_000_000)
    watcher.poll()
    assert list(watcher.poll().changed) == ["00002"]


def test_a_file_that_stays_unreadable_is_reported_once(tmp_path):
    clock = Clock()
    (tmp_path / "00000.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    watcher = KeyframeFolderWatcher(tmp_path, STEMS, clock=clock, unreadable_after_s=2.0)
    watcher.poll()
    clock.now = 1.0
    assert watcher.poll().notes == []
    clock.now = 2.5
    notes = watcher.poll().notes
    assert len(notes) == 1 and "00000.png" in notes[0] and "unreadable" in notes[0]
    clock.now = 5.0
    assert watcher.poll().notes == []


def test_saved_over_added_and_removed_are_reported(tmp_path):
    first, _ = _png(5)
    (tmp_path / "00000.png").write_bytes(first)
    watcher = KeyframeFolderWatcher(tmp_path, STEMS)
    watcher.poll()
    taken = watcher.poll().changed["00000"].sha256

    second, image = _png(6)
    (tmp_path / "00000.png").write_bytes(second)  # saved over
    _bump(tmp_path / "00000.png", 1_000_000)
    added, added_image = _png(7)
    (tmp_path / "00002.png").write_bytes(added)
    watcher.poll()
    changes = watcher.poll()
    assert sorted(changes.changed) == ["00000", "00002"]
    assert changes.changed["00000"].sha256 != taken
    assert np.array_equal(changes.changed["00000"].image, image)
    assert np.array_equal(changes.changed["00002"].image, added_image)

    (tmp_path / "00000.png").unlink()
    changes = watcher.poll()
    assert changes.removed == ["00000"] and not changes.changed
    assert sorted(watcher.taken) == ["00002"]


def test_the_same_bytes_saved_again_are_not_a_change(tmp_path):
    data, _ = _png(8)
    path = tmp_path / "00001.png"
    path.write_bytes(data)
    watcher = KeyframeFolderWatcher(tmp_path, STEMS)
    watcher.poll()
    watcher.poll()
    path.write_bytes(data)
    _bump(path, 2_000_000)
    watcher.poll()
    assert not watcher.poll()


def test_hidden_temporary_and_unmatched_files_are_not_keyframes(tmp_path):
    data, _ = _png(9)
    (tmp_path / ".00000.png").write_bytes(data)        # an editor's hidden temporary file
    (tmp_path / "00000.png.tmp").write_bytes(data)     # another's
    (tmp_path / "sketch.png").write_bytes(data)        # no frame of that name
    watcher = KeyframeFolderWatcher(tmp_path, STEMS)
    notes = watcher.poll().notes
    assert not watcher.poll()
    assert len(notes) == 1 and "sketch.png" in notes[0]
    assert watcher.poll().notes == []  # said once
