"""Warm start: continuing a trained model after a keyframe edit, refusing one that does not fit, recording it."""
import json

import pytest
import torch

from patch_training.train import warm_start
from patch_training.model.checkpoint import load_model, read_metadata, save_model
from patch_training.cli import main
from patch_training.config import TrainConfig
from patch_training.errors import CheckpointError, WarmStartError
from patch_training.guides import GuideSpec
from patch_training.keyframes import make_keyframes
from patch_training.train.fit import fit_style
from patch_training.train.loop import train_style_model
from patch_training.frames.selection import strip_indices
from patch_training.train.warm_start import WarmStartCache, settings_key, weights_sha256


def clip_and_keys(textured, keys=(0, 3)):
    frames = textured(4, 48, 64)
    keyframes, _ = make_keyframes(list(keys), (1 - frames[list(keys)]).contiguous(), frames=frames)  # an inverted style
    return frames, keyframes


def first_and_last_losses(frames, keyframes, steps, init=None, **config):
    # base "input": the inverted style is exactly a colour mapping, which the "colour" base fits before any step
    config = {"base": "input", **config}
    seen = []
    model = train_style_model(frames, keyframes, TrainConfig(steps=steps, seconds=0, report_every_s=0, **config),
                              on_progress=seen.append, init=init)
    running = [p.losses["total"] for p in seen if not p.done]  # reported every step: one step's loss each
    return model, running[0], sum(running[-10:]) / 10


def test_a_warm_start_after_a_keyframe_edit_starts_near_where_the_previous_run_ended(textured):
    frames, keys = clip_and_keys(textured)
    trained, cold_first, ended = first_and_last_losses(frames, keys, 150)
    _, edited = clip_and_keys(textured, keys=(0, 2))  # keyframe 3 replaced by a stylized frame 2

    _, warm_first, _ = first_and_last_losses(frames, edited, 3, init=trained)
    _, fresh_first, _ = first_and_last_losses(frames, edited, 3)

    assert ended < 0.7 * cold_first  # the first run learned something
    assert warm_first < 1.25 * ended
    assert fresh_first > 1.5 * warm_first


def test_a_model_of_another_preset_is_refused_naming_the_preset_and_what_differs(textured):
    frames, keys = clip_and_keys(textured)
    balanced = train_style_model(frames, keys, TrainConfig(preset="balanced", steps=1, seconds=0))
    with pytest.raises(WarmStartError, match=r"preset 'balanced', this training uses 'fast' \(widths: model "
                                             r"\[24, 48, 96\], training \[16, 32, 64\]"):
        train_style_model(frames, keys, TrainConfig(preset="fast", steps=1, seconds=0), init=balanced)


def test_a_model_of_other_guides_is_refused_naming_them(textured):
    frames, keys = clip_and_keys(textured)
    rgb = train_style_model(frames, keys, TrainConfig(steps=1, seconds=0))
    guided = fit_style(frames, keys, TrainConfig(steps=1, seconds=0), GuideSpec(guides=("gauss", "edges")))

    with pytest.raises(WarmStartError, match=r"trained on the frames alone \(RGB, no guides\), this training gives "
                                             r"guides \['gauss', 'edges'\]"):
        fit_style(frames, keys, TrainConfig(steps=1, seconds=0), GuideSpec(guides=("gauss", "edges")), init=rgb)
    with pytest.raises(WarmStartError, match=r"trained on guides \['gauss', 'edges'\], this training gives the "
                                             r"frames alone"):
        fit_style(frames, keys, TrainConfig(steps=1, seconds=0), init=guided)
    with pytest.raises(WarmStartError, match=r"other settings \(seed: model 0, training 5\)"):
        fit_style(frames, keys, TrainConfig(steps=1, seconds=0), GuideSpec(guides=("gauss", "edges"), seed=5),
                  init=guided)


def test_the_checkpoint_records_the_warm_start_and_it_round_trips(textured, tmp_path):
    frames, keys = clip_and_keys(textured)
    first = save_model(train_style_model(frames, keys, TrainConfig(steps=4, seconds=0)), tmp_path / "first.safetensors")
    parent = load_model(first)

    child = train_style_model(frames, keys, TrainConfig(steps=3, seconds=0), init=parent)
    record = child.summary.warm_start
    assert record["from"] == "first.safetensors" and record["from_sha256"] == weights_sha256(parent)
    assert (record["steps_before"], record["steps_total"], child.summary.steps) == (4, 7, 3)
    saved = save_model(child, tmp_path / "child.safetensors")
    assert read_metadata(saved)["summary"] == child.summary.to_dict()

    grandchild = train_style_model(frames, keys, TrainConfig(steps=2, seconds=0), init=load_model(saved))
    assert (grandchild.summary.warm_start["steps_before"], grandchild.summary.warm_start["steps_total"]) == (7, 9)
    assert grandchild.summary.warm_start["from"] == "child.safetensors"


def test_the_weights_hash_is_the_same_in_memory_and_in_the_file(tmp_path, textured):
    frames, keys = clip_and_keys(textured)
    model = train_style_model(frames, keys, TrainConfig(steps=2, seconds=0))
    loaded = load_model(save_model(model, tmp_path / "m.safetensors"))
    other = train_style_model(frames, keys, TrainConfig(steps=2, seconds=0, seed=1))
    assert weights_sha256(model) == weights_sha256(loaded) != weights_sha256(other)


def test_a_checkpoint_whose_warm_start_record_is_damaged_is_refused(tmp_path, textured):
    frames, keys = clip_and_keys(textured)
    model = train_style_model(frames, keys, TrainConfig(steps=1, seconds=0))
    model.summary.warm_start = {"steps_before": "many", "steps_total": 3}
    path = save_model(model, tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="summary 'warm_start' should be an object with whole step counts"):
        load_model(path)


def test_the_same_seed_init_and_steps_give_the_same_model(textured):
    frames, keys = clip_and_keys(textured)
    parent = train_style_model(frames, keys, TrainConfig(steps=5, seconds=0))
    a = train_style_model(frames, keys, TrainConfig(steps=4, seconds=0), init=parent)
    b = train_style_model(frames, keys, TrainConfig(steps=4, seconds=0), init=parent)
    assert all(torch.equal(x, y) for x, y in zip(a.generator.state_dict().values(), b.generator.state_dict().values()))
    assert parent.summary.steps == 5 and parent.summary.warm_start is None  # the parent is left as it was


def test_a_warm_start_begins_at_a_lower_learning_rate_and_ends_where_a_cold_run_does():
    base = 1e-3
    assert warm_start.learning_rate(base, 0.0, warm=True) < warm_start.learning_rate(base, 0.0, warm=False) == base
    for warm in (True, False):
        assert warm_start.learning_rate(base, 1.0, warm) == pytest.approx(0.1 * base)
        rates = [warm_start.learning_rate(base, f / 10, warm) for f in range(11)]
        assert rates == sorted(rates, reverse=True)
    assert warm_start.learning_rate(4e-4, 0.0, warm=True, reference=True) == 4e-4  # the paper's constant rate


def test_the_node_cache_continues_only_on_the_same_clip_and_settings(textured):
    frames, keys = clip_and_keys(textured)
    config = TrainConfig(steps=2, seconds=0)
    key = settings_key(frames, config, None)
    model = train_style_model(frames, keys, config)
    cache = WarmStartCache(size=2)
    cache.put("4", key, model)

    assert settings_key(frames, TrainConfig(steps=50, seconds=9), None) == key  # another budget: the same
    kept = cache.get("4", key)
    assert kept is not model and weights_sha256(kept) == weights_sha256(model)
    for changed in (settings_key(frames, TrainConfig(preset="balanced", steps=2, seconds=0), None),
                    settings_key(frames, TrainConfig(steps=2, seconds=0, seed=1), None),
                    settings_key(frames, config, GuideSpec(guides=("edges",)).to_dict()),
                    settings_key(textured(4, 48, 64, seed=1), config, None),
                    settings_key(frames[:3], config, None)):
        assert changed != key
    assert cache.get("4", "another clip") is None and len(cache) == 0  # a mismatch drops the stale model


def test_the_node_cache_keeps_one_model_per_node_and_few_nodes(textured):
    frames, keys = clip_and_keys(textured)
    model = train_style_model(frames, keys, TrainConfig(steps=1, seconds=0))
    cache = WarmStartCache(size=2)
    for node in ("1", "2", "1", "3"):
        cache.put(node, "k", model)
    assert len(cache) == 2 and cache.get("2", "k") is None and cache.get("1", "k") is not None
    kept = cache.get("3", "k")
    assert kept.preview is None and kept.strip is None and next(kept.generator.parameters()).device.type == "cpu"


def test_the_strip_spreads_frames_over_the_clip_and_is_stylized_by_the_final_model(textured):
    assert strip_indices(32, 5) == [0, 8, 16, 23, 31]
    assert strip_indices(3, 5) == [0, 1, 2] and strip_indices(10, 1) == [5] and strip_indices(10, 0) == []
    frames, keys = clip_and_keys(textured)
    seen = []
    model = train_style_model(frames, keys, TrainConfig(steps=3, seconds=0, preview_every_s=0.001),
                              on_progress=seen.append, strip_frames=3)
    shown = [p for p in seen if p.strip is not None]
    assert shown and all(p.strip_indices == (0, 2, 3) and p.strip.shape == (3, 48, 64, 3) for p in shown)
    assert model.strip.shape == (3, 48, 64, 3)
    assert seen[-1].done and torch.equal(seen[-1].strip, model.strip)


def test_the_command_line_continues_a_model_and_refuses_one_of_another_preset(tmp_path, capsys, textured):
    from support import write_frames, write_stylized

    write_frames(tmp_path / "frames", 4)
    write_stylized(tmp_path / "frames", tmp_path / "keys", ["00000"])
    first, second, other = (tmp_path / f"{n}.safetensors" for n in ("first", "second", "other"))
    common = ["train", "--frames", tmp_path / "frames", "--keyframes", tmp_path / "keys", "--guides", "rgb"]
    assert main([str(a) for a in common + ["--out", first, "--steps", 3]]) == 0
    capsys.readouterr()

    assert main([str(a) for a in common + ["--out", second, "--steps", 2, "--init", first]]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["warm_start"]["steps_total"] == 5 and "warm start: continuing first.safetensors" in err

    code = main([str(a) for a in common + ["--out", other, "--steps", 2, "--init", first, "--preset", "balanced"]])
    assert code == 2 and "preset 'fast', this training uses 'balanced'" in capsys.readouterr().err
    assert not other.exists()


def test_adams_state_is_continued_when_kept_and_the_record_says_so(textured, monkeypatch):
    frames, keys = clip_and_keys(textured)
    assert train_style_model(frames, keys, TrainConfig(steps=2, seconds=0)).optimizer_state is None  # by default
    monkeypatch.setattr(warm_start, "KEEP_OPTIMIZER_STATE", True)
    parent = train_style_model(frames, keys, TrainConfig(steps=3, seconds=0))
    moments = [s["exp_avg"].clone() for s in parent.optimizer_state["state"].values()]
    child = train_style_model(frames, keys, TrainConfig(steps=2, seconds=0), init=parent)
    assert child.summary.warm_start["optimizer_state"] is True
    assert int(child.optimizer_state["state"][0]["step"]) == 5  # Adam's step count went on from 3
    assert all(torch.equal(m, s["exp_avg"]) for m, s in zip(moments, parent.optimizer_state["state"].values()))
