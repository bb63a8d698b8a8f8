import pytest
import torch

from patch_training.errors import ConfigError, FramesError, GuideError
from patch_training.stylize.tiled import stylize
from support import random_model


@pytest.mark.parametrize("size", [(401, 402), (37, 53), (90, 33), (1, 1), (7, 200)])
def test_any_frame_size_comes_back_at_its_own_size(size, textured):
    frames = textured(2, *size)
    out = stylize(random_model(), frames, precision="fp32")
    assert out.shape == frames.shape
    assert 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("preset,size,tile", [("fast", (300, 420), 160), ("fast", (131, 517), 128),
                                               ("reference", (250, 290), 200)])
def test_tiled_stylization_equals_whole_frame(preset, size, tile, textured):
    model = random_model(preset)
    frames = textured(1, *size)
    whole = stylize(model, frames, tile=4096, precision="fp32")
    tiled = stylize(model, frames, tile=tile, precision="fp32")
    assert (tiled - whole).abs().max() <= 1 / 255


def test_tiles_bound_the_network_input_size(textured):
    model = random_model()
    seen = []
    model.generator.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[-2:])))
    stylize(model, textured(1, 700, 500), tile=192, precision="fp32")
    assert len(seen) > 4 and max(max(s) for s in seen) <= 192


def test_batches_give_the_same_frames_as_one_by_one(textured):
    model, frames = random_model(), textured(5, 40, 56)
    together = stylize(model, frames, batch_size=4, precision="fp32")
    alone = torch.cat([stylize(model, frames[i:i + 1], batch_size=1, precision="fp32") for i in range(5)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_bfloat16_and_channels_last_paths_stay_close_to_fp32(textured):
    model, frames = random_model(), textured(2, 64, 80)
    ref = stylize(model, frames, precision="fp32")
    half = stylize(model, frames, precision="bf16")
    assert (half - ref).abs().mean() < 0.02
    model.generator.to(memory_format=torch.channels_last)
    assert torch.allclose(stylize(model, frames, precision="fp32"), ref, atol=1e-5)


def test_guided_model_requires_its_guides(textured):
    model, frames = random_model(guides=2), textured(2, 32, 32)
    with pytest.raises(GuideError, match="trained with guides"):
        stylize(model, frames)
    with pytest.raises(GuideError, match=r"expected shape \[2, 32, 32, 2\]"):
        stylize(model, frames, torch.rand(2, 32, 32, 3))
    assert stylize(model, frames, torch.rand(2, 32, 32, 2)).shape == frames.shape


def test_bad_frames_and_settings_are_named():
    model = random_model()
    with pytest.raises(FramesError, match=r"frames: expected an image batch of shape \[T, H, W, 3\]"):
        stylize(model, torch.rand(32, 32, 3))
    with pytest.raises(ConfigError, match="tile: expected at least"):
        stylize(model, torch.rand(1, 300, 300, 3), tile=64)
    with pytest.raises(ConfigError, match="batch"):
        stylize(model, torch.rand(1, 30, 30, 3), batch_size=0)
