"""`patch-toon sheet make | split`: keyframes onto one sheet and back, named like their frames, nothing replaced
silently, a clear error (exit 2, nothing written) per bad input."""
import json
import shutil

import cv2
import numpy as np
import pytest
from PIL import Image

from patch_training.cli import main
from patch_training.frames.sheets import sheet_layout
from support import SAMPLE


@pytest.fixture
def clip(tmp_path):
    """The bundled sample's 32 real frames (00000.jpg ...), copied."""
    shutil.copytree(SAMPLE / "frames", tmp_path / "frames")
    return tmp_path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def image(path):
    return np.array(Image.open(path).convert("RGB")).astype(float)


def test_make_then_split_writes_keyframes_named_like_their_frames_that_train_reads(clip, capsys):
    sheet = clip / "sheet.png"
    code, out, err = run(capsys, "sheet", "make", "--frames", clip / "frames", "--indices", "0, 14, 31",
                         "--out", sheet)
    assert code == 0, err
    made = json.loads(out)
    layout = sheet_layout(3, (350, 350))
    assert Image.open(sheet).size == (made["width"], made["height"]) == (layout.width, layout.height)
    assert made["indices"] == [0, 14, 31]

    code, out, err = run(capsys, "sheet", "split", "--sheet", sheet, "--frames", clip / "frames",
                         "--indices", "0, 14, 31", "--out", clip / "keys")
    assert code == 0, err
    assert json.loads(out)["keyframes"] == ["00000.png", "00014.png", "00031.png"]
    assert sorted(p.name for p in (clip / "keys").iterdir()) == ["00000.png", "00014.png", "00031.png"]
    for name in ("00000", "00014", "00031"):  # unedited: the frames come back, within resampling error
        error = np.abs(image(clip / "keys" / f"{name}.png") - image(clip / "frames" / f"{name}.jpg")).mean()
        assert error < 4, (name, error)

    code, out, err = run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys",
                         "--out", clip / "m.safetensors", "--steps", 1, "--guides", "rgb")
    assert code == 0, err


def test_a_sheet_the_model_returned_at_another_size_splits_in_the_order_of_indices(clip, capsys):
    sheet = clip / "sheet.png"
    assert run(capsys, "sheet", "make", "--frames", clip / "frames", "--indices", "20, 3", "--out", sheet,
               "--max-side", 768)[0] == 0
    width, height = Image.open(sheet).size
    Image.open(sheet).resize((round(width * 0.9), round(height * 0.9)), Image.LANCZOS).save(clip / "edited.jpg")
    code, out, err = run(capsys, "sheet", "split", "--sheet", clip / "edited.jpg", "--frames", clip / "frames",
                         "--indices", "20, 3", "--out", clip / "keys", "--max-side", 768)
    assert code == 0, err
    assert "note: sheet resized from" in err
    for name in ("00003", "00020"):
        error = np.abs(image(clip / "keys" / f"{name}.png") - image(clip / "frames" / f"{name}.jpg")).mean()
        assert error < 6, (name, error)


def test_a_video_clips_keyframes_are_named_by_frame_number_and_read_in_the_order_of_indices(tmp_path, capsys):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for i in range(6):  # flat frames, each brighter than the last
        writer.write(np.full((64, 96, 3), 40 * i, np.uint8))
    writer.release()
    sheet = tmp_path / "sheet.png"
    assert run(capsys, "sheet", "make", "--frames", video, "--indices", "4, 1", "--out", sheet)[0] == 0
    code, out, err = run(capsys, "sheet", "split", "--sheet", sheet, "--frames", video, "--indices", "4, 1",
                         "--out", tmp_path / "keys")
    assert code == 0, err
    assert json.loads(out)["keyframes"] == ["00004.png", "00001.png"]
    assert abs(image(tmp_path / "keys" / "00004.png").mean() - 160) < 4
    assert abs(image(tmp_path / "keys" / "00001.png").mean() - 40) < 4


def test_existing_files_are_never_replaced_without_overwrite(clip, capsys):
    sheet, keys = clip / "sheet.png", clip / "keys"
    assert run(capsys, "sheet", "make", "--frames", clip / "frames", "--indices", "0, 31", "--out", sheet)[0] == 0
    before = sheet.read_bytes()
    code, _, err = run(capsys, "sheet", "make", "--frames", clip / "frames", "--indices", "0, 5", "--out", sheet)
    assert code == 2 and "already exists" in err and "--overwrite" in err and sheet.read_bytes() == before
    assert run(capsys, "sheet", "make", "--frames", clip / "frames", "--indices", "0, 5", "--out", sheet,
               "--overwrite")[0] == 0
    assert sheet.read_bytes() != before

    keys.mkdir()
    (keys / "00031.png").write_bytes(b"the artist's own keyframe")
    (keys / "notes.txt").write_text("kept")
    code, _, err = run(capsys, "sheet", "split", "--sheet", sheet, "--frames", clip / "frames", "--indices", "0, 5",
                       "--out", keys)
    assert code == 0, err  # other names in the folder are no obstacle, and stay
    code, _, err = run(capsys, "sheet", "split", "--sheet", sheet, "--frames", clip / "frames", "--indices", "0, 5",
                       "--out", keys)
    assert code == 2 and "00000.png" in err and "00005.png" in err and "--overwrite" in err
    assert (keys / "00031.png").read_bytes() == b"the artist's own keyframe"
    assert (keys / "notes.txt").read_text() == "kept"
    assert sorted(p.name for p in clip.iterdir() if p.name.startswith(".")) == []  # no staging place left


@pytest.mark.parametrize("argv, expected", [
    (["make", "--indices", "0, 40", "--out", "{tmp}/s.png"], "--indices: expected frame numbers from 0 to 31"),
    (["make", "--indices", "0, 0", "--out", "{tmp}/s.png"], "--indices: each frame may be listed once"),
    (["make", "--indices", "0, 5", "--out", "{tmp}/s.txt"], "--out: expected an image file name ending in .png"),
    (["make", "--indices", "every 1", "--out", "{tmp}/s.png", "--max-side", 256],
     "max_side: 256 px is too small for 32 keyframes"),
    (["split", "--indices", "0, 5", "--sheet", "{tmp}/none.png", "--out", "{tmp}/k"], "--sheet: {tmp}/none.png does "
                                                                                      "not exist"),
    (["split", "--indices", "0, 5, 9", "--sheet", "{tmp}/two.png", "--out", "{tmp}/k"],
     "sheet: expected the sheet of 3 keyframes"),
    (["split", "--indices", "0, 5", "--sheet", "{tmp}/frames/00003.jpg", "--out", "{tmp}/k"],
     "sheet: expected the sheet of 2 keyframes in 1 x 2 tiles of 448x448, sheet 928x448 (aspect 2.07"),
])
def test_bad_input_is_named_and_writes_nothing(clip, capsys, argv, expected):
    assert run(capsys, "sheet", "make", "--frames", clip / "frames", "--indices", "0, 5", "--out",
               clip / "two.png")[0] == 0
    before = sorted(p.name for p in clip.iterdir())
    argv = [str(a).replace("{tmp}", str(clip)) for a in argv]
    code, out, err = run(capsys, "sheet", argv[0], "--frames", clip / "frames", *argv[1:])
    assert code == 2 and out == ""
    assert expected.replace("{tmp}", str(clip)) in err, err
    assert "Traceback" not in err
    assert sorted(p.name for p in clip.iterdir()) == before
