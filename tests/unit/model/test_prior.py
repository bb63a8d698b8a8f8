"""The shipped prior: the starting weights of a cold start of the default network (patch_training/model/prior.py)."""
import pytest
import torch

from patch_training.model.checkpoint import load_model, save_model
from patch_training.config import TrainConfig
from patch_training.errors import ConfigError
from patch_training.guides import GuideSpec
from patch_training.keyframes import make_keyframes
from patch_training.train.fit import fit_style
from patch_training.model.prior import SHIPPED
from patch_training.train.loop import train_style_model


def setup(textured):
    frames = textured(4, 48, 64)
    keyframes, _ = make_keyframes([0, 3], (1 - frames[[0, 3]]).contiguous(), frames=frames)
    return frames, keyframes


def weights(model):
    return torch.cat([p.detach().flatten() for p in model.generator.parameters()])


def test_the_shipped_prior_is_the_default_network_on_the_default_guides():
    prior = load_model(SHIPPED)
    assert prior.config == TrainConfig().generator(3 + GuideSpec().channels)
    assert list(prior.guides["guides"]) == list(GuideSpec().guides)
    assert prior.summary.extra["prior_rounds"] > 0 and prior.summary.extra["prior_clips"]


def test_a_cold_start_of_the_default_network_begins_at_the_prior(textured):
    frames, keyframes = setup(textured)
    # One step at a negligible learning rate: the weights are still the ones training started from.
    still = TrainConfig(steps=1, seconds=0, batch_size=2, learning_rate=1e-12)
    model = fit_style(frames, keyframes, still, GuideSpec())
    assert model.summary.prior == "shipped"
    assert torch.allclose(weights(model), weights(load_model(SHIPPED)), atol=1e-6)
    random = fit_style(frames, keyframes, TrainConfig(steps=1, seconds=0, batch_size=2, learning_rate=1e-12,
                                                      prior="none"), GuideSpec())
    assert random.summary.prior == "" and not torch.allclose(weights(random), weights(model), atol=1e-3)
    # Other guide settings (the Gaussian blobs' seed, the flow preset): still the default guides, still the prior.
    other = fit_style(frames, keyframes, still, GuideSpec(seed=5, flow_preset="ultrafast"))
    assert other.summary.prior == "shipped"
    # Trained as from scratch: the small-patch start and the cold learning rate are kept.
    trained = fit_style(frames, keyframes, TrainConfig(steps=2, seconds=0, batch_size=2), GuideSpec())
    assert trained.summary.small_patch_steps == 2 and trained.summary.learning_rate == 2e-3


def test_other_networks_start_from_random_weights(textured):
    frames, keyframes = setup(textured)
    rgb = train_style_model(frames, keyframes, TrainConfig(steps=1, seconds=0, batch_size=2))
    reference = fit_style(frames, keyframes, TrainConfig(preset="reference", steps=1, seconds=0, batch_size=2,
                                                         patch_size=32), GuideSpec())
    assert rgb.summary.prior == "" and reference.summary.prior == ""


AUTO_GUIDE_SETS = [GuideSpec(), GuideSpec(guides=GuideSpec().guides + ("page",))]  # what guides: auto chooses


@pytest.mark.parametrize("preset", ["fast", "balanced"])
@pytest.mark.parametrize("spec", AUTO_GUIDE_SETS, ids=lambda spec: ",".join(spec.guides))
def test_every_guide_set_that_auto_chooses_starts_at_a_prior_of_its_own(textured, preset, spec):
    path = SHIPPED.with_name(f"{preset}-{'-'.join(spec.guides)}.safetensors")
    prior = load_model(path)
    assert prior.config == TrainConfig(preset=preset).generator(3 + spec.channels)
    assert list(prior.guides["guides"]) == list(spec.guides) and prior.summary.extra["prior_rounds"] > 0
    frames, keyframes = setup(textured)
    still = TrainConfig(preset=preset, steps=1, seconds=0, batch_size=2, learning_rate=1e-12)
    model = fit_style(frames, keyframes, still, spec)
    assert model.summary.prior == ("shipped" if path == SHIPPED else f"shipped {path.stem}")
    assert torch.allclose(weights(model), weights(prior), atol=1e-6)


def test_a_prior_file_given_must_fit(textured, tmp_path):
    frames, keyframes = setup(textured)
    own = train_style_model(frames, keyframes, TrainConfig(steps=3, seconds=0, batch_size=2))
    path = save_model(own, tmp_path / "own prior.safetensors")
    still = TrainConfig(steps=1, seconds=0, batch_size=2, learning_rate=1e-12, prior=str(path))
    model = train_style_model(frames, keyframes, still)
    assert model.summary.prior == "own prior.safetensors"
    assert torch.allclose(weights(model), weights(own), atol=1e-6)
    with pytest.raises(ConfigError, match=r"prior: .*preset 'fast'.*preset 'balanced'"):
        train_style_model(frames, keyframes, TrainConfig(preset="balanced", steps=1, seconds=0, prior=str(path)))
    with pytest.raises(ConfigError, match=r"prior: .*guides none.*guides \['gauss', 'edges'\]"):
        fit_style(frames, keyframes, TrainConfig(steps=1, seconds=0, prior=str(path)), GuideSpec())
    with pytest.raises(ConfigError, match="prior: expected 'auto', 'none' or a model file"):
        TrainConfig(prior="weights.pt").validate()


def test_the_default_guides_start_at_the_default_prior_not_at_the_page_one(textured):
    frames, keyframes = setup(textured)
    still = TrainConfig(steps=1, seconds=0, batch_size=2, learning_rate=1e-12)
    assert fit_style(frames, keyframes, still, GuideSpec()).summary.prior == "shipped"
    assert fit_style(frames, keyframes, still, AUTO_GUIDE_SETS[1]).summary.prior == "shipped fast-gauss-edges-page"
