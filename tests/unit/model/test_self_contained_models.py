"""A model carries what rebuilding its guides needs: masks placed its Gaussian guide, so it stores them (small),
and training and stylization compute the guides from that same stored form. Format 1 files still load."""
import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from patch_training.model.checkpoint import FORMAT_VERSION, load_model, read_metadata, save_model
from patch_training.cli import main
from patch_training.config import TrainConfig
from patch_training.errors import CheckpointError, GuideError, MaskError
from patch_training.guides.guide_set import GUIDE_MASK_SIDE, decode_guide_masks, encode_guide_masks, make_guide_set
from patch_training.stylize.needs import check_guides_match
from patch_training.guides import GuideSpec, compute_guides
from patch_training.keyframes import make_keyframes
from patch_training.train.fit import fit_style
from patch_training.stylize.needs import guides_need, model_guides, stylize_needs

from support import REPO, moving_clip, write_frames, write_stylized

FORMAT1 = REPO / "tests" / "fixtures" / "format1_masked_gauss.safetensors"


def half_masks(k, h, w):
    masks = torch.zeros(k, h, w)
    masks[:, :, : w // 2] = 1  # the style is valid on the left half only
    return masks


@pytest.fixture
def masked(textured):
    frames, keyframes = moving_clip(textured)
    keyframes, _ = make_keyframes(keyframes.indices, keyframes.images, half_masks(2, 48, 64), frames=frames)
    return frames, keyframes


def test_a_model_trained_with_masks_rebuilds_its_training_guides_from_the_frames_alone(masked, tmp_path):
    frames, keyframes = masked
    spec = GuideSpec(guides=("gauss", "edges"))
    guide_set = make_guide_set(frames, spec, keyframes)
    model = fit_style(frames, keyframes, TrainConfig(steps=2, seconds=0), guide_set=guide_set)
    loaded = load_model(save_model(model, tmp_path / "m.safetensors"))
    assert guides_need(loaded) == () and loaded.guide_masks.dtype == torch.uint8
    rebuilt = model_guides(loaded, frames)  # no masks, no keyframes
    assert torch.equal(rebuilt, guide_set.guides)  # what training saw at the keyframes, and around them
    assert torch.equal(rebuilt[list(keyframes.indices)], guide_set.training)
    unmasked = compute_guides(frames, spec, keyframes.indices)
    assert not torch.equal(rebuilt, unmasked)  # the masks did place the blobs
    assert float(rebuilt[0, :, 40:, :3].max()) < 0.05  # nothing right of the mask (up to its soft edge)


def test_stored_masks_are_small_and_decode_to_the_frame_size():
    masks = half_masks(3, 1080, 1920)
    code = encode_guide_masks(masks)
    assert code.dtype == torch.uint8 and code.shape == (3, 72, GUIDE_MASK_SIDE)
    decoded = decode_guide_masks(code, 1080, 1920)
    assert decoded.shape == (3, 1080, 1920)
    assert (decoded[:, :, :900] == 1).all() and (decoded[:, :, 1020:] == 0).all()
    assert encode_guide_masks(half_masks(1, 40, 56)).shape == (1, 40, 56)  # never enlarged


def test_guides_computed_with_other_masks_are_refused(masked):
    frames, keyframes = masked
    spec = GuideSpec(guides=("gauss",))
    model = fit_style(frames, keyframes, TrainConfig(steps=1, seconds=0), spec)
    check_guides_match(model, make_guide_set(frames, spec, keyframes))
    unmasked, _ = make_keyframes(keyframes.indices, keyframes.images, frames=frames)
    with pytest.raises(GuideError, match="computed without masks"):
        check_guides_match(model, make_guide_set(frames, spec, unmasked))
    other, _ = make_keyframes(keyframes.indices, keyframes.images, 1 - half_masks(2, 48, 64), frames=frames)
    with pytest.raises(GuideError, match="other masks"):
        check_guides_match(model, make_guide_set(frames, spec, other))


def test_a_format_1_checkpoint_still_loads_and_still_asks_for_its_masks(textured):
    # Written by the format 1 code (commit 165f811): a tiny generator, gauss guide, trained with masks.
    assert read_metadata(FORMAT1)["format_version"] == 1 < FORMAT_VERSION
    model = load_model(FORMAT1)
    assert model.guide_masks is None and guides_need(model) == ("masks",)
    assert "masks" in stylize_needs(model)
    frames = textured(4, 40, 56)
    with pytest.raises(MaskError, match="trained with masks"):
        model_guides(model, frames)
    masks = half_masks(2, 40, 56)
    assert torch.equal(model_guides(model, frames, masks=masks),
                       compute_guides(frames, GuideSpec.from_dict(model.guides), [0, 3], masks=masks))


def test_a_damaged_guide_tensor_is_refused_by_name(masked, tmp_path):
    frames, keyframes = masked
    model = fit_style(frames, keyframes, TrainConfig(steps=1, seconds=0), GuideSpec(guides=("gauss",)))
    path = save_model(model, tmp_path / "m.safetensors")
    state = load_file(str(path))
    state["guide.masks"] = state["guide.masks"][:1].float()
    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    save_file(state, str(tmp_path / "bad.safetensors"), metadata=metadata)
    with pytest.raises(CheckpointError, match=r"guide\.masks of F32 \[1, 48, 64\], expected U8 \[2"):
        load_model(tmp_path / "bad.safetensors")


def test_cli_stylizes_a_masked_model_with_the_frames_alone_and_info_says_so(tmp_path, capsys):
    write_frames(tmp_path / "frames", 4)
    keys, masks = tmp_path / "keys", tmp_path / "masks"
    write_stylized(tmp_path / "frames", keys, ["00000"])
    write_frames(masks, 1, seed=2)  # random noise as a mask: about half of it white
    model = tmp_path / "m.safetensors"
    assert main(["train", "--frames", str(tmp_path / "frames"), "--keyframes", str(keys), "--masks", str(masks),
                 "--out", str(model), "--steps", "2", "--guides", "rgb,gauss,edges"]) == 0
    assert main(["stylize", "--model", str(model), "--frames", str(tmp_path / "frames"),
                 "--out", str(tmp_path / "styled")]) == 0
    assert len(list((tmp_path / "styled").glob("*.png"))) == 4
    capsys.readouterr()
    assert main(["info", str(model)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["stylize_needs"].startswith("frames of 56x40 only") and info["guide_masks"] == [1, 40, 56]
    assert info["format_version"] == FORMAT_VERSION
