"""The command line contract: train / stylize / suggest / info, and a clear error (exit 2, nothing written) per bad
input."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from safetensors.torch import save_file

from patch_training.model.checkpoint import FORMAT_VERSION, checkpoint_metadata, save_model
from patch_training.cli import main
from support import (HOSTILE_CHECKPOINTS, hostile_checkpoint, probe_video, random_model, write_clip_with_audio,
                     write_frames, write_stylized)


@pytest.fixture
def clip(tmp_path):
    write_frames(tmp_path / "frames", 4)
    write_stylized(tmp_path / "frames", tmp_path / "keys", ["00000", "00003"])  # 00000.png stylizes frame 00000.png
    return tmp_path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_stylize_info_round_trip(clip, capsys):
    model = clip / "m.safetensors"
    code, out, err = run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", model,
                         "--steps", 3, "--guides", "rgb")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["steps"] == 3 and "step 3" in err  # progress on stderr, result on stdout
    code, out, err = run(capsys, "stylize", "--model", model, "--frames", clip / "frames", "--out", clip / "styled")
    assert code == 0, err
    assert sorted(p.name for p in (clip / "styled").iterdir()) == [".patch-toon-render.json",
                                                                    *(f"{i:05d}.png" for i in range(4))]
    code, out, _ = run(capsys, "info", model)
    assert json.loads(out)["summary"]["keyframe_indices"] == [0, 3]


def test_guided_model_rebuilds_its_guides_and_refuses_another_size(clip, capsys):
    model = clip / "g.safetensors"
    assert run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", model,
               "--steps", 2, "--guides", "rgb,gauss,edges")[0] == 0
    assert run(capsys, "stylize", "--model", model, "--frames", clip / "frames", "--out", clip / "o1")[0] == 0
    write_frames(clip / "big", 4, size=(48, 64))
    code, _, err = run(capsys, "stylize", "--model", model, "--frames", clip / "big", "--out", clip / "o2")
    assert code == 2 and "guides were built for 56x40 frames, received 64x48" in err
    assert not (clip / "o2").exists()


def test_patch_size_is_a_train_option_and_too_small_a_patch_is_refused(clip, capsys):
    model = clip / "p32.safetensors"
    code, out, err = run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", model,
                         "--steps", 2, "--guides", "rgb", "--patch-size", 32)
    assert code == 0, err
    assert json.loads(run(capsys, "info", model)[1])["summary"]["patch_size"] == 32
    code, _, err = run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out",
                       clip / "p8.safetensors", "--steps", 2, "--patch-size", 8)
    assert code == 2 and "patch_size: expected at least 16 pixels, received 8" in err
    assert not (clip / "p8.safetensors").exists()


def test_the_prior_is_a_train_option(clip, capsys):
    train = ("train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--steps", 2)
    code, out, err = run(capsys, *train, "--out", clip / "shipped.safetensors")
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["prior"] == "shipped", err
    code, out, err = run(capsys, *train, "--out", clip / "random.safetensors", "--prior", "none")
    assert code == 0 and json.loads(run(capsys, "info", clip / "random.safetensors")[1])["summary"]["prior"] == ""
    code, _, err = run(capsys, *train, "--out", clip / "own.safetensors", "--prior", clip / "random.safetensors")
    assert code == 0, err  # a model of the same network is a prior
    code, _, err = run(capsys, *train, "--out", clip / "bad.safetensors", "--prior", clip / "random.safetensors",
                       "--guides", "rgb")
    assert code == 2 and "prior: " in err and "guides none" in err and not (clip / "bad.safetensors").exists()


def test_a_page_model_on_the_colour_base_needs_its_keyframes_to_stylize(clip, capsys):
    model = clip / "p.safetensors"
    code, out, err = run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", model,
                         "--steps", 2, "--guides", "rgb,edges,page", "--base", "colour")
    assert code == 0, err
    info = json.loads(run(capsys, "info", model)[1])
    assert info["generator"]["base"] == "colour" and info["guides"]["guides"] == ["edges", "page"]
    code, _, err = run(capsys, "stylize", "--model", model, "--frames", clip / "frames", "--out", clip / "o1")
    assert code == 2 and "this model uses the 'page' guide; give the stylized keyframes" in err
    assert run(capsys, "stylize", "--model", model, "--frames", clip / "frames", "--out", clip / "o2",
               "--keyframes", clip / "keys")[0] == 0
    assert len(list((clip / "o2").glob("*.png"))) == 4


def write_video(path: Path, count: int) -> Path:
    """An MJPG .avi of `count` flat grey frames of 56x40, each brighter than the last."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (56, 40))
    for i in range(count):
        writer.write(np.full((40, 56, 3), 40 * i, np.uint8))
    writer.release()
    return path


def test_video_file_frames_are_read_and_named_by_number(clip, capsys):
    video = write_video(clip / "clip.avi", 5)
    model = clip / "m.safetensors"
    assert run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", model,
               "--steps", 1, "--guides", "rgb")[0] == 0
    code, _, err = run(capsys, "stylize", "--model", model, "--frames", video, "--out", clip / "v")
    assert code == 0, err
    assert sorted(p.name for p in (clip / "v").glob("*.png")) == [f"{i:05d}.png" for i in range(5)]


def test_a_video_out_is_h264_with_the_source_audio_through_the_same_writer_as_comfyui(tmp_path, capsys):
    video = write_clip_with_audio(tmp_path / "clip.mp4", 12, size=(40, 56), audio="aac")
    model = tmp_path / "m.safetensors"
    save_model(random_model(), model)
    code, out, err = run(capsys, "stylize", "--model", model, "--frames", video, "--out", tmp_path / "styled.mp4")
    assert code == 0, err
    seen = probe_video(tmp_path / "styled.mp4")
    assert (seen["codec"], seen["pix_fmt"], len(seen["frames"]), seen["audio"]) == ("h264", "yuv420p", 12, "aac")
    assert seen["faststart"] and json.loads(out)["frames"] == 12


@pytest.mark.parametrize("case,expected", [
    ("unmatched", "match no frame name"),
    ("key_size", "keyframes: 00000.png is 64x48, the frames are 56x40"),
    ("mixed_frames", "all frames must have one size"),
    ("empty_frames", "holds no images"),
    ("empty_keys", "keyframes: the folder"),
    ("unreadable", "cannot read"),
    ("mask_size", "masks: 00000.png is 64x48"),
    ("mask_missing", "no mask for ['00003']"),
    ("other_content", "--keyframes 00000: the stylized image does not show its frame's content"),
])
def test_bad_training_input_is_named_and_writes_nothing(clip, capsys, case, expected):
    frames, keys, masks = clip / "frames", clip / "keys", None
    if case == "unmatched":
        write_frames(keys, 1, seed=5)
        (keys / "00000.png").rename(keys / "frame_999.png")
    elif case == "key_size":
        write_frames(keys, 1, size=(48, 64))
    elif case == "mixed_frames":
        write_frames(frames, 1, size=(48, 64))
        (frames / "00000.png").rename(frames / "00009.png")
        write_frames(frames, 1)
    elif case == "empty_frames":
        frames = clip / "nothing"
        frames.mkdir()
    elif case == "empty_keys":
        keys = clip / "nokeys"
        keys.mkdir()
    elif case == "unreadable":
        (frames / "00002.png").write_bytes(b"this is not a PNG")
    elif case in ("mask_size", "mask_missing"):
        masks = clip / "masks"
        write_frames(masks, 1, size=(48, 64) if case == "mask_size" else (40, 56))
    elif case == "other_content":
        write_frames(keys, 1, seed=7)  # noise: not a stylization of frame 00000
    argv = ["train", "--frames", frames, "--keyframes", keys, "--out", clip / "m.safetensors", "--steps", 1]
    if case in ("key_size", "mask_size"):
        argv += ["--align", "off"]  # registration takes keyframes of any size; as given, they must fit
    if masks is not None:
        argv += ["--masks", masks]
    code, out, err = run(capsys, *argv)
    assert code == 2 and expected in err and "Traceback" not in err
    assert not (clip / "m.safetensors").exists()


def test_existing_outputs_are_never_replaced_without_overwrite(clip, capsys):
    model = clip / "m.safetensors"
    model.write_bytes(b"a model the user saved")
    code, _, err = run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", model,
                       "--steps", 1)
    assert code == 2 and "already exists" in err and model.read_bytes() == b"a model the user saved"
    good = clip / "good.safetensors"
    assert run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", good,
               "--steps", 1, "--guides", "rgb")[0] == 0
    out_dir = clip / "styled"
    out_dir.mkdir()
    (out_dir / "00000.png").write_bytes(b"keep me")
    code, _, err = run(capsys, "stylize", "--model", good, "--frames", clip / "frames", "--out", out_dir)
    assert code == 2 and "not empty" in err and (out_dir / "00000.png").read_bytes() == b"keep me"


def test_a_failing_stylize_leaves_no_partial_output(clip, capsys):
    good = clip / "good.safetensors"
    assert run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", good,
               "--steps", 1, "--guides", "rgb")[0] == 0
    write_frames(clip / "long", 12)
    (clip / "long" / "00010.png").write_bytes(b"broken")
    code, _, err = run(capsys, "stylize", "--model", good, "--frames", clip / "long", "--out", clip / "styled",
                       "--batch", 1)
    assert code == 2 and "00010.png" in err
    assert not (clip / "styled").exists() and not list(clip.glob(".styled*"))


@pytest.mark.parametrize("kind,expected", [("junk", "is not a safetensors file"),
                                           ("newer", "Update patch-toon"),
                                           ("other", "not a patch_training checkpoint")])
def test_model_files_that_cannot_be_used_are_named(clip, capsys, kind, expected):
    path = clip / "x.safetensors"
    model = random_model()
    if kind == "junk":
        path.write_bytes(b"\x00" * 100)
    elif kind == "newer":
        save_file(dict(model.generator.state_dict()), str(path),
                  metadata={**checkpoint_metadata(model), "format_version": str(FORMAT_VERSION + 1)})
    else:
        save_file(dict(model.generator.state_dict()), str(path), metadata={"format": "diffusers"})
    for argv in (["info", path], ["stylize", "--model", path, "--frames", clip / "frames", "--out", clip / "o"]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and expected in err
    assert not (clip / "o").exists()


@pytest.mark.parametrize("kind", HOSTILE_CHECKPOINTS)
def test_a_damaged_or_edited_model_file_is_an_error_line_not_a_traceback(clip, capsys, kind):
    path = hostile_checkpoint(kind, clip / "bad.safetensors")
    for argv in (["info", path], ["stylize", "--model", path, "--frames", clip / "frames", "--out", clip / "o"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and "Traceback" not in err
        assert err.startswith(f"error: model: {path}") and err.count("\n") == 1, err
    assert not (clip / "o").exists()


def test_work_too_big_for_the_memory_available_is_refused_before_reading_a_frame(clip, capsys, monkeypatch):
    model = clip / "m.safetensors"
    assert run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", model,
               "--steps", 1, "--guides", "rgb")[0] == 0
    (clip / "frames" / "00001.png").write_bytes(b"not an image: reading it would be another error")
    monkeypatch.setenv("PATCH_TOON_MEMORY_LIMIT_MB", "1")
    code, out, err = run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys",
                         "--out", clip / "big.safetensors", "--steps", 1)
    assert code == 2 and out == "" and "Traceback" not in err
    # Streamed training holds the 2 keyframes' frames and the preview frame, not the clip.
    assert err.startswith("error: memory: training on 3 frames of 56x40 (2 keyframes, guides rgb,gauss,edges) "
                          "needs about ") and "1 MB is available (PATCH_TOON_MEMORY_LIMIT_MB)" in err
    code, out, err = run(capsys, "stylize", "--model", model, "--frames", clip / "frames", "--out", clip / "o")
    assert code == 2 and err.startswith("error: memory: stylizing frames of 56x40 needs about ")
    assert not (clip / "big.safetensors").exists() and not (clip / "o").exists()
    assert sorted(p.name for p in clip.iterdir()) == ["frames", "keys", "m.safetensors"]


def test_frames_are_read_chunk_by_chunk_not_all_at_once(tmp_path):
    # What lets `stylize` take a 10,000-frame clip: a chunk is decoded only when it is asked for, so a frame
    # the reader has not reached yet (here a broken file) does not stop the chunks before it.
    from patch_training.errors import FramesError
    from patch_training.frames.sources import FrameSource

    paths = write_frames(tmp_path / "frames", 12)
    paths[10].write_bytes(b"not an image")
    chunks = FrameSource(tmp_path / "frames").chunks(4)
    names, first = next(chunks)
    assert names == [p.name for p in paths[:4]] and first.shape == (4, 40, 56, 3)
    names, _ = next(chunks)
    assert names == [p.name for p in paths[4:8]]
    with pytest.raises(FramesError, match="00010.png"):
        next(chunks)


def test_stylizing_frames_far_from_the_training_size_says_so(clip, capsys):
    model = clip / "m.safetensors"
    assert run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", model,
               "--steps", 1, "--guides", "rgb")[0] == 0
    write_frames(clip / "big", 2, size=(120, 168))
    code, _, err = run(capsys, "stylize", "--model", model, "--frames", clip / "big", "--out", clip / "o")
    assert code == 0 and "note: these frames are 168x120, the model learned its style on 56x40 frames (3.0x)" in err
    code, _, err = run(capsys, "stylize", "--model", model, "--frames", clip / "frames", "--out", clip / "o2")
    assert code == 0 and "note:" not in err


def test_suggest_prints_one_json_line_with_the_indices_and_the_select_frames_text(clip, capsys):
    write_frames(clip / "many", 12)
    code, out, err = run(capsys, "suggest", "--frames", clip / "many", "--count", 3, "--have", "0, -1")
    assert code == 0, err
    (line,) = out.splitlines()
    result = json.loads(line)
    indices = result["indices"]
    assert len(indices) == 3 == len(set(indices)) and indices == sorted(indices)
    assert not set(indices) & {0, 11} and all(0 <= i < 12 for i in indices)
    assert result["select_frames"] == ", ".join(map(str, indices))  # Select Frames' indices syntax
    assert result["have"] == [0, 11] and result["keyframes"] == sorted(indices + [0, 11])
    assert result["frames"] == 12 and result["shots"][0][0] == 0 and result["shots"][-1][1] == 12
    code, again, _ = run(capsys, "suggest", "--frames", clip / "many", "--count", 3, "--have", "0, -1")
    assert again == out  # deterministic


def test_suggest_reads_a_video_file(clip, capsys):
    code, out, err = run(capsys, "suggest", "--frames", write_video(clip / "clip.avi", 6), "--count", 2)
    assert code == 0, err
    assert len(json.loads(out)["indices"]) == 2 and json.loads(out)["frames"] == 6


@pytest.mark.parametrize("argv,expected", [
    (["--count", 0], "count: expected how many keyframes to suggest, 1 or more, received 0"),
    (["--count", 5], "count: expected at most 4, the frames left to choose from (the clip has 4 frames)"),
    (["--count", 3, "--have", "1, 2"], "count: expected at most 2"),
    (["--count", 1, "--have", "7"], "have: expected frame numbers from 0 to 3 (there are 4 frames), received [7]"),
    (["--count", 1, "--have", "one"], "have: cannot read 'one'"),
    (["--count", 1, "--have", "1, 1"], "have: each frame may be listed once"),
])
def test_suggest_refuses_bad_input_with_a_message(clip, capsys, argv, expected):
    code, out, err = run(capsys, "suggest", "--frames", clip / "frames", *argv)
    assert code == 2 and expected in err and "Traceback" not in err and out == ""


def test_suggest_refuses_a_one_frame_clip(clip, capsys):
    write_frames(clip / "single", 1)
    code, out, err = run(capsys, "suggest", "--frames", clip / "single", "--count", 1)
    assert code == 2 and "a clip of 1 frame has nothing to choose from" in err and out == ""


def test_train_registers_a_shifted_keyframe_and_says_so(clip, capsys):
    from PIL import Image

    from patch_training.model.checkpoint import load_model

    key = clip / "keys" / "00003.png"
    image = np.asarray(Image.open(key))
    Image.fromarray(np.ascontiguousarray(np.roll(image, 3, axis=1))).save(key)  # content moved 3 px right
    model = clip / "m.safetensors"
    code, _, err = run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out", model,
                       "--steps", 1, "--guides", "rgb")
    assert code == 0, err
    assert "note: --keyframes 00000: already aligned" in err and "note: --keyframes 00003: aligned (shift (+3.0" in err
    reports = load_model(model).summary.alignment
    assert [r["action"] for r in reports] == ["unchanged", "aligned"]
    code, _, err = run(capsys, "train", "--frames", clip / "frames", "--keyframes", clip / "keys", "--out",
                       clip / "off.safetensors", "--steps", 1, "--guides", "rgb", "--align", "off")
    assert code == 0 and "aligned" not in err
    assert load_model(clip / "off.safetensors").summary.alignment is None
