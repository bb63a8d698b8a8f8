import json

import pytest
import torch
from safetensors.torch import save_file

from patch_training.model.checkpoint import FORMAT_VERSION, checkpoint_metadata, load_model, read_metadata, save_model
from patch_training.errors import CheckpointError, OutputExistsError
from patch_training.stylize.tiled import stylize
from support import random_model


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, textured):
    model = random_model(guides=2)
    model.summary = {"steps": 12, "keyframe_indices": [0, 5]}
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    frames, guides = textured(2, 40, 40), torch.rand(2, 40, 40, 2)
    assert torch.equal(stylize(model, frames, guides, precision="fp32"), stylize(loaded, frames, guides, precision="fp32"))
    assert loaded.config == model.config and loaded.guides == model.guides and loaded.summary == model.summary


def test_weights_stored_in_half_precision_load_as_float32(tmp_path):
    """As the shipped balanced priors are stored: half the bytes, read back as the architecture's float32."""
    from safetensors import safe_open
    model = random_model(guides=2)
    path = save_model(model, tmp_path / "m.safetensors")
    with safe_open(str(path), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    half = tmp_path / "half.safetensors"
    save_file({k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}, str(half), metadata=meta)
    loaded = load_model(half)
    for name, weight in model.generator.state_dict().items():
        stored = loaded.generator.state_dict()[name]
        assert stored.dtype == weight.dtype
        if weight.is_floating_point():
            assert torch.allclose(stored, weight, rtol=1e-3, atol=1e-4)
    int8 = tmp_path / "int8.safetensors"  # any other dtype is still refused by name
    save_file({k: v.to(torch.int8) if v.dtype == torch.float32 else v for k, v in tensors.items()}, str(int8),
              metadata=meta)
    with pytest.raises(CheckpointError, match="does not match its own architecture"):
        load_model(int8)


def test_save_never_replaces_an_existing_file(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="already exists"):
        save_model(random_model(), path)
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no partial files left


def test_a_file_that_is_not_a_checkpoint_is_refused_with_its_reason(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="is not a safetensors file"):
        load_model(junk)
    other = tmp_path / "sd.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"modelspec": "sd"})
    with pytest.raises(CheckpointError, match="not a patch_training checkpoint"):
        load_model(other)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")


def test_a_newer_format_version_asks_for_an_update(tmp_path):
    model = random_model()
    meta = {**checkpoint_metadata(model), "format_version": str(FORMAT_VERSION + 1)}
    path = tmp_path / "new.safetensors"
    save_file(dict(model.generator.state_dict()), str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="Update patch-toon"):
        read_metadata(path)


def test_weights_that_do_not_match_the_metadata_are_named(tmp_path):
    model = random_model()
    state = dict(model.generator.state_dict())
    state["stem.weight"] = torch.zeros(3, 3, 3, 3)
    path = tmp_path / "edited.safetensors"
    save_file(state, str(path), metadata=checkpoint_metadata(model))
    with pytest.raises(CheckpointError, match=r"stem.weight: expected \[16, 3, 3, 3\]"):
        load_model(path)


def test_metadata_holds_the_documented_fields(tmp_path):
    path = save_model(random_model(), tmp_path / "m.safetensors")
    meta = read_metadata(path)
    assert set(meta) == {"format_version", "library_version", "generator", "guides", "summary"}
    assert json.loads(json.dumps(meta))["generator"]["arch"] == "unet"
