import pytest

from patch_training.config import PRESETS, TrainConfig
from patch_training.errors import ConfigError, MemoryLimitError
from patch_training.stylize.tiled import stylize
from patch_training.keyframes import make_keyframes
from patch_training.memory import (MEMORY_LIMIT_ENV, activation_floats_per_pixel, available_host_bytes,
                                   inference_bytes, parameter_count, stylize_host_bytes, training_bytes,
                                   training_host_bytes)
from patch_training.train.fit import fit_style
from support import random_model


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_stylizing_memory_is_bounded_by_the_tile_whatever_the_frame_size(preset):
    config = PRESETS[preset]
    at_tile = inference_bytes(config, 4, 512, 512, batch_size=4, tile=512)
    assert inference_bytes(config, 4, 2160, 3840, batch_size=4, tile=512) == at_tile
    assert inference_bytes(config, 4, 256, 256, batch_size=4, tile=512) < at_tile


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_memory_grows_with_batch_tile_keyframes_and_guides(preset):
    config = PRESETS[preset]
    assert inference_bytes(config, 8, 900, 900, 2) < inference_bytes(config, 8, 900, 900, 4)
    assert inference_bytes(config, 8, 900, 900, 4, tile=256) < inference_bytes(config, 8, 900, 900, 4, tile=512)
    assert inference_bytes(config, 1, 900, 900, 4) < inference_bytes(config, 2, 900, 900, 4)  # batch <= frames
    assert training_bytes(config, 1, 720, 1280) < training_bytes(config, 3, 720, 1280)
    guided = config.with_inputs(6)
    assert training_bytes(config, 2, 720, 1280) < training_bytes(guided, 2, 720, 1280)


def test_estimates_cover_the_weights_and_rank_the_presets_by_size():
    small, large = PRESETS["fast"], PRESETS["reference"]
    assert inference_bytes(small, 1, 64, 64, 1) > parameter_count(small) * 4
    assert training_bytes(small, 1, 64, 64) > parameter_count(small) * 16
    assert activation_floats_per_pixel(small) < activation_floats_per_pixel(large)
    assert inference_bytes(small, 4, 512, 512) < inference_bytes(large, 4, 512, 512)


def test_the_machine_reports_the_memory_available(monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    assert available_host_bytes() > 0  # Linux: MemAvailable, or the room under a cgroup limit


def test_the_limit_variable_sets_what_is_available_and_must_be_a_number(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1.5")
    assert available_host_bytes() == int(1.5 * 2**20)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ConfigError, match=f"{MEMORY_LIMIT_ENV}: expected a number of megabytes above 0, "
                                          "received 'lots'"):
        available_host_bytes()


def test_host_estimates_grow_with_frames_and_count_what_is_not_yet_held():
    config = PRESETS["fast"]
    assert training_host_bytes(config, 4, 512, 512, 2) < training_host_bytes(config, 8, 512, 512, 2, frames_held=False)
    assert training_host_bytes(config, 4, 512, 512, 2) < training_host_bytes(config.with_inputs(7), 4, 512, 512, 2,
                                                                             guide_channels=4)
    assert stylize_host_bytes(config, 4, 720, 1280) < stylize_host_bytes(config, 8, 720, 1280)
    assert stylize_host_bytes(config, 8, 720, 1280, output=False) < stylize_host_bytes(config, 8, 720, 1280)


def test_work_that_does_not_fit_is_refused_before_it_starts(monkeypatch, textured):
    frames = textured(4, 64, 64)
    keyframes, _ = make_keyframes([0, 3], frames[[0, 3]], frames=frames)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1")
    progress = []
    with pytest.raises(MemoryLimitError, match=r"^memory: training on 4 frames of 64x64 \(2 keyframes\) needs "
                                               r"about \d+ MB of memory, 1 MB is available \(PATCH_TOON_MEMORY_LIMIT_MB\); "
                                               r"nothing was started\. Train on smaller frames"):
        fit_style(frames, keyframes, TrainConfig(steps=1, seconds=0), on_progress=progress.append)
    assert progress == []
    with pytest.raises(MemoryLimitError, match=r"^memory: stylizing 4 frames of 64x64 .* Stylize fewer frames"):
        stylize(random_model(), frames)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "100000")
    assert stylize(random_model(), frames).shape == frames.shape
