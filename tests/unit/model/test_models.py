import pytest
import torch

from patch_training.config import PRESETS, REFERENCE, GeneratorConfig
from patch_training.errors import ConfigError
from patch_training.model.networks import build_generator, macs_per_pixel, receptive_radius


def test_reference_generator_has_the_papers_parameter_count():
    # The original GeneratorJ with reference_P.yaml (filters 32,64,128,128,128,64, 7 blocks, smoothers,
    # tanh, bias, RGB input) has 3,267,523 parameters.
    model = build_generator(REFERENCE)
    assert sum(p.numel() for p in model.parameters()) == 3_267_523


def test_reference_generator_evaluates_each_convolution_once():
    model = build_generator(REFERENCE).eval()
    calls = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Conv2d):
            mod.register_forward_hook(lambda m, i, o, n=name: calls.__setitem__(n, calls.get(n, 0) + 1))
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32))
    assert calls and set(calls.values()) == {1}


def test_presets_are_much_cheaper_than_the_reference():
    ref = macs_per_pixel(build_generator(REFERENCE), 3)
    assert ref == pytest.approx(1.023e6, rel=0.01)  # FACTS.md: 1.03 M with the duplicated conv
    assert macs_per_pixel(build_generator(PRESETS["fast"]), 3) < ref / 10


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_output_pixel_depends_only_on_inputs_within_the_receptive_radius(name):
    config = PRESETS[name]
    model = build_generator(config).eval()
    r = receptive_radius(config)
    size = 2 * r + 48
    size += -size % config.stride
    x = torch.rand(1, 3, size, size, requires_grad=True)
    y = model(x)
    c = size // 2
    y[0, :, c, c].sum().backward()
    reach = (x.grad[0].abs().sum(0) > 0).nonzero()
    assert (reach - c).abs().max() <= r


@pytest.mark.parametrize("channels", [3, 6])
def test_generators_accept_guide_channels(channels):
    for config in PRESETS.values():
        model = build_generator(config.with_inputs(channels)).eval()
        assert model(torch.rand(2, channels, 32, 48)).shape == (2, 3, 32, 48)


def test_config_round_trip_and_unknown_keys_are_named():
    config = PRESETS["fast"].with_inputs(7)
    assert GeneratorConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"unknown keys \['colour'\]"):
        GeneratorConfig.from_dict({**config.to_dict(), "colour": 1})
