import pytest
import torch

from patch_training.config import TrainConfig
from patch_training.errors import ConfigError, KeyframeError, MaskError
from patch_training.keyframes import make_keyframes
from patch_training.train.patches import PatchSampler
from patch_training.train.loop import train_style_model


def tiny_setup(textured, t=4, size=(48, 64)):
    frames = textured(t, *size)
    styled = (1 - frames[[0, 3]]).contiguous()  # an "inverted" style: easy to check it is learned
    keyframes, _ = make_keyframes([0, 3], styled, frames=frames)
    return frames, keyframes


def weights(model):
    return torch.cat([p.detach().flatten() for p in model.generator.parameters()])


def test_same_seed_same_weights_on_cpu(textured):
    frames, keyframes = tiny_setup(textured)
    config = TrainConfig(steps=6, seconds=0, seed=3, batch_size=4, patch_size=32)
    a = train_style_model(frames, keyframes, config)
    b = train_style_model(frames, keyframes, config)
    c = train_style_model(frames, keyframes, TrainConfig(steps=6, seconds=0, seed=4, batch_size=4, patch_size=32))
    assert torch.equal(weights(a), weights(b))
    assert not torch.equal(weights(a), weights(c))
    assert a.summary.steps == 6 and a.summary.keyframe_indices == [0, 3]


def test_training_lowers_the_loss_on_the_keyframes(textured):
    frames, keyframes = tiny_setup(textured)
    seen = []
    # base "input": the inverted style is exactly a colour mapping, which the "colour" base fits before any step
    train_style_model(frames, keyframes, TrainConfig(steps=120, seconds=0, loss="l1", report_every_s=0, base="input"),
                      on_progress=seen.append)
    assert seen[-1].done and seen[-1].step == 120
    assert seen[-1].losses["total"] < 0.5 * seen[0].losses["total"]


def test_reference_preset_trains_with_the_papers_batch_and_patch(textured):
    frames, keyframes = tiny_setup(textured, size=(40, 40))
    model = train_style_model(frames, keyframes, TrainConfig(preset="reference", steps=2, seconds=0))
    assert model.summary.batch_size == 40 and model.summary.patch_size == 32
    assert "adversarial" in model.summary.final_losses


def test_should_stop_finishes_early_with_the_model_so_far(textured):
    frames, keyframes = tiny_setup(textured)
    calls = []
    model = train_style_model(frames, keyframes, TrainConfig(steps=10_000, seconds=0),
                              should_stop=lambda: calls.append(1) or len(calls) > 5)
    assert model.summary.steps == 5 and model.summary.stopped_early


def test_an_exception_from_progress_cancels_training(textured):
    frames, keyframes = tiny_setup(textured)

    def cancel(progress):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train_style_model(frames, keyframes, TrainConfig(steps=10_000, seconds=0), on_progress=cancel)


def test_training_works_under_comfyuis_inference_mode(textured):
    with torch.inference_mode():
        frames, keyframes = tiny_setup(textured)
        model = train_style_model(frames, keyframes, TrainConfig(steps=3, seconds=0))
    assert model.summary.steps == 3


def test_progress_reports_a_preview_of_a_held_out_frame(textured):
    frames, keyframes = tiny_setup(textured)
    seen = []
    model = train_style_model(frames, keyframes, TrainConfig(steps=5, seconds=0, preview_every_s=0.001),
                              on_progress=seen.append, preview_index=1)
    previews = [p.preview for p in seen if p.preview is not None]
    assert previews and previews[-1].shape == (1, 48, 64, 3)
    assert model.preview.shape == (1, 48, 64, 3)


def test_masked_sampler_draws_patch_centres_only_where_the_mask_is_valid():
    inputs = torch.arange(2 * 64 * 64, dtype=torch.float32).reshape(2, 1, 64, 64)
    masks = torch.zeros(2, 1, 64, 64)
    masks[1, :, 40:60, 10:30] = 1
    sampler = PatchSampler(inputs, inputs, masks, 16, torch.Generator().manual_seed(0))
    _, _, m = sampler.sample(200)
    assert m[:, 0, 8, 8].min() == 1  # every patch centre lies inside the white region


def test_keyframe_errors_name_the_input(textured):
    frames = textured(4, 32, 32)
    with pytest.raises(KeyframeError, match=r"from 0 to 3 \(the video has 4 frames\), received \[7\]"):
        make_keyframes([7], frames[:1], frames=frames)
    with pytest.raises(KeyframeError, match="one frame number per stylized keyframe"):
        make_keyframes([0, 1], frames[:1], frames=frames)
    with pytest.raises(KeyframeError, match="expected images of the frames' size 32x32"):
        make_keyframes([0], textured(1, 32, 48), frames=frames)
    with pytest.raises(MaskError, match="empty"):
        make_keyframes([0], frames[:1], torch.zeros(1, 32, 32), frames=frames)


def test_keyframes_at_another_resolution_are_resized_and_said_so(textured):
    frames = textured(3, 32, 48)
    keyframes, notes = make_keyframes([2, 0], textured(2, 64, 96), frames=frames)
    assert keyframes.indices == (0, 2) and keyframes.images.shape == (2, 32, 48, 3)
    assert "resized from 96x64 to the frame size 48x32" in notes[0]


def test_config_errors_are_named():
    with pytest.raises(ConfigError, match="preset: expected one of"):
        TrainConfig(preset="huge").validate()
    with pytest.raises(ConfigError, match="both 0"):
        TrainConfig(steps=0, seconds=0).validate()


def test_unet_presets_start_on_small_patches_unless_the_patch_size_is_given(textured, monkeypatch):
    import patch_training.config as config_module

    frames, keyframes = tiny_setup(textured)
    seen = []
    original = PatchSampler.sample
    monkeypatch.setattr(PatchSampler, "sample", lambda self, batch: seen.append(self.patch) or original(self, batch))
    monkeypatch.setattr(config_module, "SMALL_PATCH_STEPS", 2)
    model = train_style_model(frames, keyframes, TrainConfig(steps=4, seconds=0, batch_size=2))
    assert seen == [32, 32, 48, 48]
    assert (model.summary.patch_size, model.summary.small_patch_steps, model.summary.small_patch_size) == \
        (48, 2, 32)
    seen.clear()
    given = train_style_model(frames, keyframes, TrainConfig(steps=3, seconds=0, batch_size=2, patch_size=40))
    assert seen == [40, 40, 40] and given.summary.small_patch_steps == 0
    seen.clear()
    warm = train_style_model(frames, keyframes, TrainConfig(steps=3, seconds=0, batch_size=2), init=model)
    assert seen == [48, 48, 48] and warm.summary.small_patch_steps == 0
    seen.clear()
    train_style_model(frames, keyframes, TrainConfig(preset="reference", steps=1, seconds=0, batch_size=2))
    assert seen == [32]
