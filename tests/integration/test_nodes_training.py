"""Training and model files on a real ComfyUI server: interrupt, "Finish now", saving, guides end to end."""

import time
import uuid

import numpy as np
import pytest
import torch
from PIL import Image
from support import random_model

from comfy_host import PromptFailed, output_files
from comfy_host.websocket import WebSocketClient
from patch_training.model.checkpoint import load_model, read_metadata, save_model

FRAMES, KEYFRAMES = "[patch-toon sample] frames", "[patch-toon sample] keyframes"
PROGRESS_EVENT = "patch_toon.progress"  # nodes/_common.py's training progress, to the page that queued the prompt
LONG = 600.0  # a budget no test waits for: these runs end by interrupt or "Finish now"


def load_frames(source=FRAMES, **options):
    return {"class_type": "PatchToonLoadFrames",
            "inputs": {"source": source, "start": 0, "count": 0, "every_nth": 1, "max_side": 0, **options}}


def training_graph(seconds=LONG, steps=0, prefix="trained", max_side=0):
    """Sample frames and keyframes -> Make Keyframes -> Train (node "4") -> Save Patch Model."""
    return {
        "1": load_frames(max_side=max_side),
        "2": load_frames(KEYFRAMES),
        "3": {"class_type": "PatchToonMakeKeyframes", "inputs": {"frames": ["1", 0], "stylized": ["2", 0],
                                                                 "indices": "0, 14, 31"}},
        "4": {"class_type": "PatchToonTrain", "inputs": {"frames": ["1", 0], "keyframes": ["3", 0], "preset": "fast",
                                                         "seconds": seconds, "steps": steps, "seed": 0}},
        "5": {"class_type": "PatchToonSaveModel", "inputs": {"model": ["4", 0], "filename_prefix": prefix}},
    }


def saved_models(comfy, prefix):
    return sorted((comfy.root / "models" / "patch_toon").glob(f"{prefix}_*.safetensors"))


def queue_training(comfy, prompt, node="4") -> str:
    """Queues `prompt` and returns its id once its training node `node` reports training progress (so a
    "Finish now" or an interrupt then meets training itself, not the loading and guides before it, which take
    seconds more on a loaded machine)."""
    with WebSocketClient(comfy.base_url, f"trainer-{uuid.uuid4().hex}") as page:
        page.wait_for("status")  # the server knows the page: the prompt's events reach it
        prompt_id = comfy.queue(prompt, client_id=page.client_id)
        deadline = time.monotonic() + 120
        while not any(event.get("node") == node for event in page.events(PROGRESS_EVENT)):
            assert time.monotonic() < deadline, f"node {node} never reported training\n{comfy.log_tail()}"
            assert prompt_id in comfy.running_prompt_ids() or not comfy.history(prompt_id), \
                f"the prompt ended before node {node} trained: {comfy.history(prompt_id)}"
            time.sleep(0.05)
    return prompt_id


def test_interrupt_stops_training_promptly_and_the_server_goes_on(comfy):
    prompt_id = queue_training(comfy, training_graph(prefix="interrupted"))
    asked = time.monotonic()
    assert comfy.interrupt(prompt_id)
    with pytest.raises(PromptFailed) as failed:
        comfy.wait(prompt_id, timeout=60)
    stopped_after = time.monotonic() - asked
    assert failed.value.interrupted and failed.value.node_type == "PatchToonTrain"
    assert stopped_after < 15, f"training went on for {stopped_after:.1f} s after the interrupt"
    assert saved_models(comfy, "interrupted") == []  # nothing half-written, nothing saved

    entry = comfy.run(training_graph(seconds=0.0, steps=3, prefix="after_interrupt"), timeout=120)
    assert entry["status"]["status_str"] == "success" and len(saved_models(comfy, "after_interrupt")) == 1


def test_finish_now_ends_training_early_and_the_graph_goes_on(comfy):
    prompt_id = queue_training(comfy, training_graph(prefix="finished"))
    answer = comfy._json("POST", "/patch_toon/finish", {"node": "4"})
    assert answer["finish_requested"]
    comfy.wait(prompt_id, timeout=60)
    (path,) = saved_models(comfy, "finished")
    summary = read_metadata(path)["summary"]
    assert summary["stopped_early"] and 0 < summary["seconds"] < LONG


def test_saving_twice_writes_two_files_and_never_overwrites(comfy):
    folder = comfy.root / "models" / "patch_toon"
    save_model(random_model(seed=3), folder / "source.safetensors", overwrite=True)
    saver = {"class_type": "PatchToonSaveModel", "inputs": {"model": ["1", 0], "filename_prefix": "twice"}}
    prompt = {"1": {"class_type": "PatchToonLoadModel", "inputs": {"model_name": "source.safetensors"}},
              "2": saver, "3": dict(saver)}
    entry = comfy.run(prompt, timeout=60)
    first, second = saved_models(comfy, "twice")
    assert (first.name, second.name) == ("twice_00001_.safetensors", "twice_00002_.safetensors")
    assert sorted(name for out in entry["outputs"].values() for name in out["patch_model"]) == [first.name, second.name]
    for path in (first, second):
        weights = load_model(path).generator.state_dict()
        assert all(torch.equal(weights[k], v) for k, v in random_model(seed=3).generator.state_dict().items())


def test_a_model_trained_with_guides_stylizes_with_the_same_guides(comfy):
    prompt = training_graph(seconds=0.0, steps=20, prefix="guided", max_side=128)
    prompt["6"] = {"class_type": "PatchToonGuides", "inputs": {"frames": ["1", 0], "keyframes": ["3", 0],
                   "guides": "gauss, edges", "seed": 0, "flow_preset": "ultrafast", "detect_cuts": True}}
    prompt["4"]["inputs"]["guides"] = ["6", 0]
    prompt["7"] = {"class_type": "PatchToonStylize", "inputs": {"model": ["4", 0], "frames": ["1", 0],
                   "batch_size": 4, "tile": 0, "guides": ["6", 0]}}
    prompt["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "guided"}}
    prompt["9"] = {"class_type": "PreviewImage", "inputs": {"images": ["6", 1]}}
    entry = comfy.run(prompt, timeout=300)

    stylized = [f for f in output_files(entry) if f["filename"].startswith("guided")]
    assert len(stylized) == 32
    (path,) = saved_models(comfy, "guided")
    meta = read_metadata(path)
    assert meta["guides"]["guides"] == ["gauss", "edges"] and meta["summary"]["frame_size"] == [128, 128]
    assert meta["generator"]["in_channels"] == 3 + 3 + 1
    assert meta["summary"]["prior"] == "shipped"  # the default network and guides start at the shipped prior
    guide_preview = [f for f in output_files(entry) if f["type"] == "temp"]
    assert len(guide_preview) == 32



def test_train_advanced_learns_on_a_colour_base_with_the_page_guide(comfy):
    # The two options of issue 15 end to end: Compute Guides' 'page', Train (Advanced)'s base, the saved file.
    prompt = training_graph(seconds=0.0, steps=5, prefix="paged", max_side=96)
    prompt["6"] = {"class_type": "PatchToonGuides", "inputs": {"frames": ["1", 0], "keyframes": ["3", 0],
                   "guides": "edges, page", "seed": 0, "flow_preset": "ultrafast", "detect_cuts": True}}
    prompt["4"] = {"class_type": "PatchToonTrainAdvanced", "inputs": {
        **prompt["4"]["inputs"], "guides": ["6", 0], "loss": "auto", "batch_size": 0, "patch_size": 0,
        "learning_rate": 0.0, "precision": "auto", "base": "colour", "prior": "auto"}}
    prompt["7"] = {"class_type": "PatchToonStylize", "inputs": {"model": ["4", 0], "frames": ["1", 0],
                   "batch_size": 4, "tile": 0, "guides": ["6", 0]}}
    prompt["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "paged"}}
    entry = comfy.run(prompt, timeout=300)

    assert len([f for f in output_files(entry) if f["filename"].startswith("paged")]) == 32
    (path,) = saved_models(comfy, "paged")
    meta = read_metadata(path)
    assert meta["guides"]["guides"] == ["edges", "page"] and meta["generator"]["base"] == "colour"
    assert meta["summary"]["prior"] == ""  # no prior fits this network: random weights
    assert meta["generator"]["in_channels"] == 3 + 1 + 3
    assert load_model(path).generator.colour_map.shape == (10, 3)


def test_a_model_trained_with_masks_stylizes_without_compute_guides(comfy):
    # Masks placed its Gaussian guide; the model stores them, so Stylize Frames rebuilds its guides alone.
    from patch_training.config import TrainConfig
    from patch_training.guides import GuideSpec
    from patch_training.stylize.tiled import stylize
    from patch_training.keyframes import make_keyframes
    from patch_training.train.fit import fit_style
    from patch_training.stylize.needs import model_guides
    from patch_training.frames.selection import read_frames
    from support import SAMPLE

    frames, _ = read_frames(SAMPLE / "frames", max_side=96)  # as Load Frames reads it with max_side 96
    styled, _ = read_frames(SAMPLE / "keyframes", max_side=96)
    masks = torch.zeros(3, *frames.shape[1:3])
    masks[:, :, : frames.shape[2] // 2] = 1
    keyframes, _ = make_keyframes([0, 14, 31], styled, masks, frames=frames)
    model = fit_style(frames, keyframes, TrainConfig(steps=2, seconds=0), GuideSpec(guides=("gauss", "edges")))
    save_model(model, comfy.root / "models" / "patch_toon" / "masked.safetensors", overwrite=True)

    prompt = {"1": load_frames(max_side=96),
              "2": {"class_type": "PatchToonLoadModel", "inputs": {"model_name": "masked.safetensors"}},
              "3": {"class_type": "PatchToonStylize", "inputs": {"model": ["2", 0], "frames": ["1", 0],
                                                                 "batch_size": 8, "tile": 0}},
              "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "masked"}}}
    entry = comfy.run(prompt, timeout=120)
    files = sorted(f["filename"] for f in output_files(entry) if f["filename"].startswith("masked"))
    assert len(files) == 32
    expected = stylize(model, frames, model_guides(model, frames), precision="fp32")
    first = np.asarray(Image.open(comfy.output_dir / files[0]), np.float32) / 255
    assert np.abs(first - expected[0].numpy()).mean() < 2 / 255  # the same guides as in training
