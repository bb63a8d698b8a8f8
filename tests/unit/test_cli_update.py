"""`stylize --update OUT`: re-render only what a keyframe edit changed, say how much and why, refuse what it cannot
update."""
import json

import numpy as np
import pytest
from PIL import Image

from patch_training.cli import main
from patch_training.frames.sources import FrameSource, to_uint8
from patch_training.guides import GuideSpec
from patch_training.model.checkpoint import save_model
from support import random_model, write_frames

KEYS = [0, 4, 8, 11]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def clip(tmp_path):
    write_frames(tmp_path / "frames", 12, size=(40, 56))
    (tmp_path / "keys").mkdir()
    for key in KEYS:  # 'painted': the frame inverted
        frame = np.asarray(Image.open(tmp_path / "frames" / f"{key:05d}.png"))
        Image.fromarray(255 - frame).save(tmp_path / "keys" / f"{key:05d}.png")
    model = random_model(guides=GuideSpec(guides=("warp",)).channels)
    model.guides = GuideSpec(guides=("warp",)).to_dict()
    model.summary = {"keyframe_indices": KEYS, "frame_size": [40, 56]}
    save_model(model, tmp_path / "warp.safetensors")
    return tmp_path


def stylize(clip, *extra):
    return ("stylize", "--model", clip / "warp.safetensors", "--frames", clip / "frames", "--keyframes", clip / "keys",
        "--batch", 2, "--precision", "fp32", *extra)


def test_update_after_a_keyframe_edit_says_what_it_re_rendered_and_equals_a_fresh_render(clip, capsys):
    assert run(capsys, *stylize(clip, "--out", clip / "out"))[0] == 0
    edited = np.asarray(Image.open(clip / "keys" / "00008.png")).copy()
    edited[..., 0] = 255
    Image.fromarray(edited).save(clip / "keys" / "00008.png")

    code, out, err = run(capsys, *stylize(clip, "--update", clip / "out"))
    assert code == 0, err
    result = json.loads(out)
    assert 0 < result["rendered"] < 12 and "keyframe 8 changed; the model is the same" in result["reason"]
    assert f"{result['rendered']} of 12 frames re-rendered: keyframe 8 changed" in err
    assert run(capsys, *stylize(clip, "--out", clip / "fresh"))[0] == 0
    assert np.array_equal(to_uint8(FrameSource(clip / "out").read_all()),
                          to_uint8(FrameSource(clip / "fresh").read_all()))

    code, out, err = run(capsys, *stylize(clip, "--update", clip / "out"))
    assert code == 0 and json.loads(out)["rendered"] == 0 and "0 of 12 frames re-rendered: nothing changed" in err


def test_update_refuses_a_folder_without_a_record_and_a_video(clip, capsys):
    write_frames(clip / "mine", 2)
    code, _, err = run(capsys, *stylize(clip, "--update", clip / "mine"))
    assert code == 2 and "--update:" in err and "has no render record" in err
    assert sorted(p.name for p in (clip / "mine").iterdir()) == ["00000.png", "00001.png"]
    code, _, err = run(capsys, *stylize(clip, "--update", clip / "old.mp4"))
    assert code == 2 and "a video's frames cannot be kept exactly" in err


def test_out_and_update_are_one_or_the_other(clip, capsys):
    with pytest.raises(SystemExit):
        main([str(a) for a in stylize(clip, "--out", clip / "a", "--update", clip / "b")])
