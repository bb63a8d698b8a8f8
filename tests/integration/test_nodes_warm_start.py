"""Warm start and the whole-clip strip of Train Patch Model on a real ComfyUI server: the node continues its last
model when only its keyframes changed, and starts afresh on another clip, another preset, or when told to. What a
run did is read where a user reads it: the summary of the model it saved."""

import pytest

from comfy_host import output_files
from patch_training.model.checkpoint import read_metadata, save_model
from patch_training.config import TrainConfig
from patch_training.keyframes import make_keyframes
from patch_training.frames.selection import read_frames
from patch_training.train.loop import train_style_model
from support import SAMPLE
from test_nodes_training import KEYFRAMES, load_frames, saved_models

TRAIN = "40"  # a node id of its own: the server keeps the last model of each training node id
STEPS = 30


def graph(prefix, indices="0, 14, 31", max_side=96, preset="fast", warm_start=None, init_model=None):
    """Sample clip (max_side px) and keyframes -> Make Keyframes -> Train (node TRAIN) -> Save Patch Model, and the
    strip output -> Preview Image."""
    train = {"frames": ["1", 0], "keyframes": ["3", 0], "preset": preset, "seconds": 0.0, "steps": STEPS, "seed": 0}
    if warm_start is not None:
        train["warm_start"] = warm_start
    prompt = {
        "1": load_frames(max_side=max_side),
        "2": load_frames(KEYFRAMES, max_side=max_side),
        "3": {"class_type": "PatchToonMakeKeyframes", "inputs": {"frames": ["1", 0], "stylized": ["2", 0],
                                                                 "indices": indices}},
        TRAIN: {"class_type": "PatchToonTrain", "inputs": train},
        "5": {"class_type": "PatchToonSaveModel", "inputs": {"model": [TRAIN, 0], "filename_prefix": prefix}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": [TRAIN, 2]}},
    }
    if init_model is not None:
        prompt["7"] = {"class_type": "PatchToonLoadModel", "inputs": {"model_name": init_model}}
        train["init_model"] = ["7", 0]
    return prompt


def trained(comfy, prompt, prefix):
    """Runs the prompt; (the saved model's summary, the strip's images)."""
    entry = comfy.run(prompt, timeout=300)
    (path,) = saved_models(comfy, prefix)
    strip = [f for f in output_files(entry) if f["type"] == "temp"]
    return read_metadata(path)["summary"], strip


@pytest.fixture(scope="module")
def runs(comfy):
    """The same node queued six times, as a user edits: (summary, strip) of each run."""
    out = {}
    out["first"] = trained(comfy, graph("warm_first"), "warm_first")
    out["keyframe moved"] = trained(comfy, graph("warm_moved", indices="0, 10, 31"), "warm_moved")
    out["keyframe moved again"] = trained(comfy, graph("warm_again", indices="0, 20, 31"), "warm_again")
    out["another clip"] = trained(comfy, graph("warm_clip", indices="0, 20, 31", max_side=80), "warm_clip")
    out["warm start off"] = trained(comfy, graph("warm_off", indices="0, 14, 31", max_side=80, warm_start=False),
                                    "warm_off")
    out["another preset"] = trained(comfy, graph("warm_preset", indices="0, 10, 31", max_side=80, preset="balanced"),
                                    "warm_preset")
    return out


def test_a_requeue_with_a_changed_keyframe_continues_the_last_model(runs):
    first, _ = runs["first"]
    moved, _ = runs["keyframe moved"]
    again, _ = runs["keyframe moved again"]
    assert "warm_start" not in first
    assert moved["keyframe_indices"] == [0, 10, 31] and moved["steps"] == STEPS
    record = moved["warm_start"]
    assert (record["steps_before"], record["steps_total"]) == (STEPS, 2 * STEPS)
    assert record["from"] == f"the previous run of training node {TRAIN}"
    assert again["warm_start"]["steps_total"] == 3 * STEPS  # and again: a chain of edits


@pytest.mark.parametrize("run", ["another clip", "warm start off", "another preset"])
def test_another_clip_or_preset_or_warm_start_off_trains_from_scratch(runs, run):
    summary, _ = runs[run]
    assert "warm_start" not in summary and summary["steps"] == STEPS


def test_the_strip_output_holds_frames_spread_over_the_clip(runs):
    for summary, strip in runs.values():
        assert len(strip) == 5


def test_an_init_model_input_continues_that_model(comfy, tmp_path):
    frames, _ = read_frames(SAMPLE / "frames", max_side=96)  # as Load Frames reads it with max_side 96
    styled, _ = read_frames(SAMPLE / "keyframes", max_side=96)
    keyframes, _ = make_keyframes([0, 14, 31], styled, frames=frames)
    parent = train_style_model(frames, keyframes, TrainConfig(steps=7, seconds=0))
    save_model(parent, comfy.root / "models" / "patch_toon" / "warm_parent.safetensors", overwrite=True)

    summary, _ = trained(comfy, graph("warm_init", init_model="warm_parent.safetensors", warm_start=False),
                         "warm_init")
    assert summary["warm_start"]["from"] == "warm_parent.safetensors"
    assert (summary["warm_start"]["steps_before"], summary["warm_start"]["steps_total"]) == (7, 7 + STEPS)
