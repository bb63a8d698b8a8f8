"""LiveTrainer: training that takes new keyframes between steps without starting over."""
import pytest
import torch

from patch_training import ConfigError, FramesError, GuideError, GuideSpec, TrainConfig, make_keyframes
from patch_training.train.live import WARM_SECONDS, LiveTrainer


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _keys(seed: int, k: int = 2, size: int = 40):
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(k, size, size, 3, generator=g)
    keyframes, _ = make_keyframes(list(range(k)), torch.rand(k, size, size, 3, generator=g), frames=frames)
    return frames, keyframes


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.run.generator.state_dict().items()}


def test_new_keyframes_continue_the_weights_and_the_step_count():
    frames, keys = _keys(0)
    trainer = LiveTrainer(frames, keys, TrainConfig(seconds=30, threads=1, prior="none"))
    trainer.train(3)
    before = _weights(trainer)
    new_frames, new_keys = _keys(1, k=3)
    trainer.set_keyframes(new_frames, new_keys)
    after = _weights(trainer)
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing reset
    assert trainer.run.sampler.inputs.shape[0] == 3  # patches come from the new keyframes
    trainer.train(2)
    assert trainer.steps == 5
    model = trainer.model([4, 9, 20])
    assert model.summary.steps == 5 and model.summary.keyframe_indices == [4, 9, 20]


def test_the_model_is_a_copy_that_training_does_not_change():
    frames, keys = _keys(2)
    trainer = LiveTrainer(frames, keys, TrainConfig(seconds=30, threads=1, prior="none"))
    trainer.train(1)
    model = trainer.model()
    kept = {k: v.clone() for k, v in model.generator.state_dict().items()}
    trainer.train(2)
    assert all(torch.equal(kept[k], v) for k, v in model.generator.state_dict().items())
    assert any(not torch.equal(kept[k], v) for k, v in trainer.run.generator.state_dict().items())


def test_a_change_starts_a_warm_or_a_cold_schedule():
    clock = Clock()
    frames, keys = _keys(3)
    config = TrainConfig(seconds=30, threads=1, prior="none")
    trainer = LiveTrainer(frames, keys, config, clock=clock)
    cold_start = trainer.learning_rate()
    clock.now = 100.0  # past the ramp: the rate stays at its end
    end = trainer.learning_rate()
    assert end < cold_start and trainer.learning_rate(200.0) == end
    trainer.set_keyframes(frames, keys, schedule="warm")
    warm = trainer.learning_rate()
    assert end < warm < cold_start
    assert trainer.learning_rate(clock.now + WARM_SECONDS) == pytest.approx(0.1 * config.resolved_lr(warm=True))
    trainer.set_keyframes(frames, keys, schedule="cold")
    assert trainer.learning_rate() == pytest.approx(cold_start)
    clock.now += 10.0
    ten = trainer.learning_rate()
    clock.now += 4.0
    trainer.hold(4.0)  # 4 s spent rendering the strip: not counted by the schedule
    assert trainer.learning_rate() == pytest.approx(ten) and ten > end


def test_keyframes_the_network_cannot_take_are_refused_by_name():
    frames, keys = _keys(4)
    trainer = LiveTrainer(frames, keys, TrainConfig(seconds=30, threads=1, prior="none"))
    with pytest.raises(GuideError, match="guide channels"):
        trainer.set_keyframes(frames, keys, torch.zeros(2, 40, 40, 2))
    small_frames, small_keys = _keys(5, size=32)
    with pytest.raises(FramesError, match="session's size"):
        trainer.set_keyframes(small_frames, small_keys)
    with pytest.raises(ConfigError, match="schedule"):
        trainer.set_keyframes(frames, keys, schedule="hot")


def test_another_style_starts_again_from_the_starting_weights_a_repaint_does_not():
    frames, keys = _keys(6)
    spec = GuideSpec()  # the default guides: the fast preset starts from the shipped prior
    guides = torch.rand(2, 40, 40, spec.channels, generator=torch.Generator().manual_seed(6))
    trainer = LiveTrainer(frames, keys, TrainConfig(seconds=30, threads=1), guides, spec.to_dict())
    assert trainer.setup.prior is not None
    start = {k: v.clone() for k, v in trainer.setup.prior.generator.state_dict().items()}
    trainer.train(3)
    trainer.set_keyframes(frames, keys, guides, schedule="warm")
    assert not trainer.restarted
    assert any(not torch.equal(start[k], v) for k, v in _weights(trainer).items())
    trainer.set_keyframes(frames, keys, guides, schedule="cold")
    assert trainer.restarted
    assert all(torch.equal(start[k], v) for k, v in _weights(trainer).items())
    assert trainer.steps == 3  # the count goes on
