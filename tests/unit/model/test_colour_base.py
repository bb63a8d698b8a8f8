"""The colour-matched base of a residual generator: fitted to the keyframes, stored in the checkpoint, optional."""
import dataclasses
import json

import pytest
import torch
from safetensors import safe_open

from patch_training.model.checkpoint import load_model, read_metadata, save_model
from patch_training.model.colour_base import apply_map, fit_map, identity_map
from patch_training.config import DEFAULT_BASE, DEFAULT_LR, PRESETS, WARM_BASE_LR, GeneratorConfig, TrainConfig
from patch_training.errors import ConfigError, WarmStartError
from patch_training.stylize.tiled import stylize
from patch_training.keyframes import make_keyframes
from patch_training.model.networks import build_generator
from patch_training.train.loop import train_style_model


def clip_and_keys(textured, style):
    frames = textured(4, 48, 64)
    keyframes, _ = make_keyframes([0, 3], style(frames[[0, 3]]).contiguous(), frames=frames)
    return frames, keyframes


def sepia(x):
    return (x @ torch.tensor([[0.39, 0.35, 0.27], [0.77, 0.69, 0.53], [0.19, 0.17, 0.13]])).clamp(0, 1) ** 1.5


def test_the_fit_recovers_a_quadratic_colour_mapping(textured):
    truth = identity_map()
    truth[:3] = torch.tensor([[0.2, 0.1, 0.0], [0.3, 0.3, 0.1], [0.1, 0.2, 0.4]])
    truth[3:9] = 0.03
    truth[9] = torch.tensor([0.05, 0.1, 0.0])
    x = textured(2, 40, 40).permute(0, 3, 1, 2)
    target = apply_map(x, truth)
    assert target.max() < 1  # no clamping: the target is exactly quadratic in the colour
    assert torch.allclose(apply_map(x, fit_map(x, target)), target, atol=0.005)


def test_masked_pixels_do_not_take_part_in_the_fit(textured):
    x = textured(1, 32, 32).permute(0, 3, 1, 2)
    target, mask = 1 - x, torch.ones(1, 1, 32, 32)
    target[..., :16], mask[..., :16] = 0.0, 0.0  # garbage where the mask is off
    assert torch.allclose(apply_map(x, fit_map(x, target, mask))[..., 16:], (1 - x)[..., 16:], atol=0.02)


def test_a_colour_base_network_starts_as_its_mapping_and_the_input_base_as_the_frame(textured):
    x = textured(1, 32, 32).permute(0, 3, 1, 2)
    colour = build_generator(dataclasses.replace(PRESETS["fast"], base="colour")).eval()
    colour.colour_map.copy_(fit_map(x, 1 - x))
    plain = build_generator(PRESETS["fast"]).eval()
    with torch.no_grad():
        assert torch.allclose(colour(x), apply_map(x, colour.colour_map))
        assert torch.equal(plain(x), x)


def test_training_with_the_colour_base_starts_nearer_the_style(textured):
    frames, keys = clip_and_keys(textured, sepia)
    first = {}
    for base in ("input", "colour"):
        seen = []
        train_style_model(frames, keys, TrainConfig(steps=1, seconds=0, report_every_s=0, base=base),
                          on_progress=seen.append)
        first[base] = seen[0].losses["l1"]
    assert first["colour"] < 0.5 * first["input"]


def test_the_colour_base_round_trips_through_a_checkpoint(textured, tmp_path):
    frames, keys = clip_and_keys(textured, sepia)
    model = train_style_model(frames, keys, TrainConfig(steps=3, seconds=0, base="colour"))
    loaded = load_model(save_model(model, tmp_path / "c.safetensors"))
    assert loaded.config.base == "colour" and read_metadata(tmp_path / "c.safetensors")["generator"]["base"] == "colour"
    assert torch.equal(loaded.generator.colour_map, model.generator.colour_map)
    assert torch.equal(stylize(loaded, frames, precision="fp32"), stylize(model, frames, precision="fp32"))


def test_a_model_with_the_input_base_is_saved_as_before(textured, tmp_path):
    # No 'base' key and no colour_map tensor: versions without the option read the file, and it reads back the same.
    frames, keys = clip_and_keys(textured, sepia)
    model = train_style_model(frames, keys, TrainConfig(steps=2, seconds=0, base="input"))
    path = save_model(model, tmp_path / "i.safetensors")
    with safe_open(str(path), "pt") as f:
        assert "base" not in json.loads(f.metadata()["generator"]) and "colour_map" not in f.keys()
    loaded = load_model(path)
    assert loaded.config == model.config and loaded.config.base == "input"
    assert GeneratorConfig.from_dict({k: v for k, v in model.config.to_dict().items()}).base == "input"


def test_bad_bases_are_refused_by_name():
    with pytest.raises(ConfigError, match="base: expected 'auto' or one of"):
        TrainConfig(base="lut").validate()
    with pytest.raises(ConfigError, match="base: 'colour' needs a residual network"):
        TrainConfig(preset="reference", base="colour").validate()
    with pytest.raises(ConfigError, match="base: expected one of"):
        GeneratorConfig.from_dict({"base": "lut"})
    with pytest.raises(ConfigError, match="needs a residual unet"):
        GeneratorConfig.from_dict({"arch": "unet", "residual": False, "base": "colour"})


def test_a_warm_start_keeps_its_models_base_and_refuses_another(textured):
    frames, keys = clip_and_keys(textured, sepia)
    trained = train_style_model(frames, keys, TrainConfig(steps=2, seconds=0, base="colour"))
    continued = train_style_model(frames, keys, TrainConfig(steps=1, seconds=0, base="auto"), init=trained)
    assert continued.config.base == "colour"
    assert torch.equal(continued.generator.colour_map, trained.generator.colour_map)
    with pytest.raises(WarmStartError, match="adds its change to the base 'colour', this training uses 'input'"):
        train_style_model(frames, keys, TrainConfig(steps=1, seconds=0, base="input"), init=trained)


def test_a_cold_run_trains_at_the_default_rate_and_a_warm_start_at_the_rate_its_schedule_was_measured_on(textured):
    frames, keys = clip_and_keys(textured, sepia)
    cold = train_style_model(frames, keys, TrainConfig(steps=1, seconds=0))
    warm = train_style_model(frames, keys, TrainConfig(steps=1, seconds=0), init=cold)
    assert cold.summary.learning_rate == DEFAULT_LR and warm.summary.learning_rate == WARM_BASE_LR
    assert cold.config.base == warm.config.base == DEFAULT_BASE
