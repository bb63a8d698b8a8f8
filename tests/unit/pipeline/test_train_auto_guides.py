"""guides 'auto' from files: the command line's default (`train`, `guides`) and a batch manifest's."""
import json

import cv2
import numpy as np
import pytest

from patch_training.batch.manifest import read_manifest
from patch_training.cli import main
from patch_training.guides import DEFAULT_GUIDES
from patch_training.guides.synthetic import textured_style, translating_clip
from patch_training.model.checkpoint import load_model

KEYS = (0, 5, 10)


def write(folder, images, names):
    folder.mkdir()
    for image, name in zip(images, names):
        cv2.imwrite(str(folder / f"{name:05d}.png"), cv2.cvtColor((image.numpy() * 255).round().astype(np.uint8),
                                                                  cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module", params=["page", "content"])
def clip(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    frames, motions = translating_clip(11, 64, 64, dx=1.5, dy=-0.8)
    styles = textured_style(frames, motions, on_page=request.param == "page")
    write(root / "frames", frames, range(11))
    write(root / "keys", styles[list(KEYS)], KEYS)
    return root, request.param


def run(capsys, *argv):
    # The synthetic styles are textures that keep none of the frames' edges: registration (align auto) cannot
    # place them and would refuse them as other content. These tests are about the guides.
    argv = (*argv, "--align", "off") if argv[0] == "train" else argv
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def expected(kind):
    return ",".join(("rgb",) + DEFAULT_GUIDES + (("page",) if kind == "page" else ()))


def test_the_guides_command_says_what_auto_chooses_and_why(clip, capsys):
    root, kind = clip
    code, out, err = run(capsys, "guides", "--frames", root / "frames", "--keyframes", root / "keys")
    result = json.loads(out)
    assert code == 0 and result["guides"] == expected(kind)
    assert result["keyframes"] == ["00000.png", "00005.png", "00010.png"]
    assert {"static", "moving", "moving_share"} <= set(result["stats"]) and result["reason"]
    assert err.startswith(f"guides auto: {expected(kind)} (")


def test_train_chooses_the_guides_by_default_and_the_model_says_why(clip, capsys):
    root, kind = clip
    out_file = root / "auto.safetensors"
    code, out, err = run(capsys, "train", "--frames", root / "frames", "--keyframes", root / "keys", "--out",
                         out_file, "--steps", 2)
    result = json.loads(out)
    assert code == 0 and result["guides"] == expected(kind) and result["guides_auto"]["guides"] == expected(kind).split(",")[1:]
    assert f"guides auto: {expected(kind)}" in err
    model = load_model(out_file)
    assert model.guides["guides"] == expected(kind).split(",")[1:]
    assert model.summary.guides_auto["reason"] == result["guides_auto"]["reason"]


def test_guides_given_by_name_are_used_as_given(clip, capsys):
    root, kind = clip
    out_file = root / "named.safetensors"
    code, out, err = run(capsys, "train", "--frames", root / "frames", "--keyframes", root / "keys", "--out",
                         out_file, "--steps", 1, "--guides", "rgb,edges")
    assert code == 0 and json.loads(out)["guides"] == "rgb,edges" and "guides_auto" not in json.loads(out)
    assert load_model(out_file).summary.guides_auto is None and "guides auto" not in err


def test_a_warm_start_keeps_the_guides_of_the_model_it_continues(clip, capsys):
    root, kind = clip
    first = root / "first.safetensors"
    assert run(capsys, "train", "--frames", root / "frames", "--keyframes", root / "keys", "--out", first,
               "--steps", 1, "--guides", "rgb,edges")[0] == 0
    code, out, err = run(capsys, "train", "--frames", root / "frames", "--keyframes", root / "keys", "--out",
                         root / "second.safetensors", "--steps", 1, "--init", first)
    assert code == 0 and json.loads(out)["guides"] == "rgb,edges"
    assert "warm start keeps the guides" in json.loads(out)["guides_auto"]["reason"]


def test_a_manifest_shot_chooses_its_guides_unless_it_names_them(tmp_path):
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"shots": [{"name": "a", "frames": "f", "keyframes": "k", "out": "o"},
                                              {"name": "b", "frames": "f", "keyframes": "k", "out": "p",
                                               "guides": "rgb,gauss"}]}))
    a, b = read_manifest(manifest)
    assert a.train.guides == "auto" and b.train.spec().guides == ("gauss",)


def test_a_batch_shot_with_the_default_guides_trains_and_stylizes_with_its_choice(clip, capsys):
    root, kind = clip
    manifest = root / "batch.json"
    manifest.write_text(json.dumps({"defaults": {"steps": 1, "align": "off"}, "shots": [
        {"name": "shot", "frames": "frames", "keyframes": "keys", "out": "batch_out"}]}))
    code, out, err = run(capsys, "batch", manifest)
    assert code == 0 and json.loads(out)["frames_written"] == 11
    model = load_model(root / "batch_out.safetensors")
    assert model.guides["guides"] == expected(kind).split(",")[1:] == model.summary.guides_auto["guides"]
