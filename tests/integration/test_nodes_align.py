"""Make Keyframes registers its stylized images to their frames on a real ComfyUI server (align auto, the
default) and says what it did; the trained model's summary records it."""

import cv2
import numpy as np
import pytest
from PIL import Image

from comfy_host import PromptFailed
from patch_training.model.checkpoint import load_model

from test_nodes_training import load_frames, saved_models
from support import SAMPLE


def shifted_keyframe(comfy, name: str, dx: int) -> str:
    """The sample's first keyframe with its content moved `dx` px to the right (as an image-edit model might
    return it), written to the server's input folder for Load Image."""
    image = np.asarray(Image.open(sorted((SAMPLE / "keyframes").iterdir())[0]).convert("RGB"))
    moved = cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, 0]]), image.shape[1::-1],
                           borderMode=cv2.BORDER_REFLECT)
    Image.fromarray(moved).save(comfy.input_dir / name)
    return name


def keyframes_graph(image: str, prefix: str, **make) -> dict:
    return {
        "1": load_frames(),
        "2": {"class_type": "LoadImage", "inputs": {"image": image}},
        "3": {"class_type": "PatchToonMakeKeyframes", "inputs": {"frames": ["1", 0], "stylized": ["2", 0],
                                                                 "indices": "0", **make}},
        "4": {"class_type": "PatchToonTrain", "inputs": {"frames": ["1", 0], "keyframes": ["3", 0], "preset": "fast",
                                                         "seconds": 0, "steps": 2, "seed": 0}},
        "5": {"class_type": "PatchToonSaveModel", "inputs": {"model": ["4", 0], "filename_prefix": prefix}},
    }


def test_a_shifted_keyframe_is_aligned_by_default_and_reported(comfy):
    image = shifted_keyframe(comfy, "align_shifted.png", 12)
    entry = comfy.run(keyframes_graph(image, "aligned"), timeout=300)  # no align input: the default, auto
    text = entry["outputs"]["3"]["text"]
    assert text[0].startswith("keyframe at frame 0: aligned (shift (+1"), text  # 12 px and the sample's own ~1
    assert "uncovered at the border" in text[0]
    report = load_model(saved_models(comfy, "aligned")[-1]).summary.alignment
    assert len(report) == 1 and report[0]["action"] == "aligned"
    assert 11 < report[0]["shift_px"][0] < 15 and report[0]["coverage"] < 0.97


def test_align_off_uses_the_keyframe_as_given(comfy):
    image = shifted_keyframe(comfy, "align_off.png", 12)
    entry = comfy.run(keyframes_graph(image, "unaligned", align="off"), timeout=300)
    assert "text" not in entry["outputs"].get("3", {})  # nothing was adjusted, nothing to say
    assert load_model(saved_models(comfy, "unaligned")[-1]).summary.alignment is None


def test_a_keyframe_of_other_content_is_refused_by_name(comfy):
    other = np.asarray(Image.open(sorted((SAMPLE / "keyframes").iterdir())[0]).convert("RGB"))[::-1, ::-1]
    Image.fromarray(np.ascontiguousarray(other)).save(comfy.input_dir / "align_other.png")
    with pytest.raises(PromptFailed) as failed:
        comfy.run(keyframes_graph("align_other.png", "refused"), timeout=300)
    assert failed.value.node_type == "PatchToonMakeKeyframes"
    assert "keyframe at frame 0: the stylized image does not show its frame's content" in str(failed.value)
