"""On a server that has little memory (PATCH_TOON_MEMORY_LIMIT_MB), training and stylizing are refused before
they start, with the estimate, what is available and the fix; nothing is written and the server goes on."""

import pytest
from support import random_model

from comfy_host import ComfyServer, PromptFailed, setup_host
from patch_training.model.checkpoint import save_model

SAMPLE = {"class_type": "PatchToonLoadFrames", "inputs": {"source": "[patch-toon sample] frames", "start": 0,
                                                         "count": 0, "every_nth": 1, "max_side": 0}}


@pytest.fixture(scope="module")
def small_server():
    setup_host.ensure()
    server = ComfyServer(env={"PATCH_TOON_MEMORY_LIMIT_MB": "100"})  # 1 sample frame fits, 32 do not
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


def written(server):
    folders = (server.output_dir, server.root / "models" / "patch_toon")
    return sorted(str(p) for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file())


def test_training_that_does_not_fit_is_refused_at_once_and_writes_nothing(small_server):
    before = written(small_server)
    prompt = {
        "1": SAMPLE,
        "2": {**SAMPLE, "inputs": {**SAMPLE["inputs"], "source": "[patch-toon sample] keyframes"}},
        "3": {"class_type": "PatchToonMakeKeyframes", "inputs": {"frames": ["1", 0], "stylized": ["2", 0],
                                                                 "indices": "0, 14, 31"}},
        "4": {"class_type": "PatchToonTrain", "inputs": {"frames": ["1", 0], "keyframes": ["3", 0], "preset": "fast",
                                                         "seconds": 600.0, "steps": 0, "seed": 0}},
        "5": {"class_type": "PatchToonSaveModel", "inputs": {"model": ["4", 0], "filename_prefix": "too_big"}},
    }
    with pytest.raises(PromptFailed) as failed:
        small_server.run(prompt, timeout=60)  # a 600 s budget: only a refusal ends this quickly
    error = failed.value
    assert (error.node_type, error.interrupted) == ("PatchToonTrain", False)
    assert error.exception_message.startswith("memory: training on 32 frames of 350x350 (3 keyframes) needs about ")
    assert "100 MB is available (PATCH_TOON_MEMORY_LIMIT_MB); nothing was started" in error.exception_message
    assert "Load Frames' max_side" in error.exception_message
    assert written(small_server) == before


def test_stylizing_that_does_not_fit_is_refused_and_the_server_goes_on(small_server):
    folder = small_server.root / "models" / "patch_toon"
    folder.mkdir(parents=True, exist_ok=True)
    save_model(random_model(), folder / "rgb.safetensors")
    stylize = {"1": {"class_type": "PatchToonLoadModel", "inputs": {"model_name": "rgb.safetensors"}},
               "2": SAMPLE,
               "3": {"class_type": "PatchToonStylize", "inputs": {"model": ["1", 0], "frames": ["2", 0],
                                                                  "batch_size": 4, "tile": 0}},
               "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "styled"}}}
    with pytest.raises(PromptFailed) as failed:
        small_server.run(stylize, timeout=60)
    assert failed.value.exception_message.startswith("memory: stylizing 32 frames of 350x350 (4 at a time) needs ")
    assert list(small_server.output_dir.rglob("*.png")) == []
    stylize["2"]["inputs"]["count"] = 1  # one frame fits
    entry = small_server.run(stylize, timeout=60)
    assert entry["status"]["status_str"] == "success" and len(list(small_server.output_dir.rglob("*.png"))) == 1
