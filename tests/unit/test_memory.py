import pytest

from patch_training.config import PRESETS
from patch_training.memory import activation_floats_per_pixel, inference_bytes, parameter_count, training_bytes


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
