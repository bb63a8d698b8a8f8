"""Make Keyframe Sheet and Split Keyframe Sheet on a real ComfyUI server (March 2024): a sheet edited and resized
by core nodes (as an image model would) comes back as keyframes that Make Keyframes and training take."""

import io

import numpy as np
import pytest
from PIL import Image

from comfy_host import PromptFailed
from patch_training.frames.sheets import sheet_layout
from patch_training.model.checkpoint import read_metadata
from support import SAMPLE

FRAMES = "[patch-toon sample] frames"
INDICES = "31, 0, 14"  # the sheet keeps the order written; the keyframes come out in frame order


def sheet_graph(width=896, height=896, indices=INDICES, max_side=1024):
    """Sample frames -> Make Keyframe Sheet -> Invert Image (the "style") -> Upscale Image to width x height (the
    model's own size) -> Split Keyframe Sheet -> Make Keyframes -> Train (2 steps) -> Save Patch Model; the sheet
    and the split keyframes saved as images."""
    return {
        "1": {"class_type": "PatchToonLoadFrames",
              "inputs": {"source": FRAMES, "start": 0, "count": 0, "every_nth": 1, "max_side": 0}},
        "2": {"class_type": "PatchToonMakeKeyframeSheet", "inputs": {"frames": ["1", 0], "indices": indices,
                                                                     "max_side": max_side}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "ImageScale", "inputs": {"image": ["3", 0], "upscale_method": "bilinear",
                                                     "width": width, "height": height, "crop": "disabled"}},
        "5": {"class_type": "PatchToonSplitKeyframeSheet", "inputs": {"sheet": ["4", 0], "frames": ["1", 0],
                                                                      "indices": ["2", 1], "max_side": max_side}},
        "6": {"class_type": "PatchToonMakeKeyframes", "inputs": {"frames": ["1", 0], "stylized": ["5", 0],
                                                                 "indices": ["5", 1]}},
        "7": {"class_type": "PatchToonTrain", "inputs": {"frames": ["1", 0], "keyframes": ["6", 0], "preset": "fast",
                                                         "seconds": 0.0, "steps": 2, "seed": 0}},
        "8": {"class_type": "PatchToonSaveModel", "inputs": {"model": ["7", 0], "filename_prefix": "from_sheet"}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "sheet"}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "split"}},
    }


def saved(comfy, entry, node):
    return [np.array(Image.open(io.BytesIO(comfy.get_file(**f))).convert("RGB")).astype(float)
            for f in entry["outputs"][node]["images"]]


def test_a_sheet_edited_and_resized_in_the_graph_comes_back_as_keyframes_that_train(comfy):
    models = comfy.root / "models" / "patch_toon"
    before = set(models.glob("from_sheet_*.safetensors"))
    entry = comfy.run(sheet_graph(), timeout=300)

    (sheet,) = saved(comfy, entry, "9")
    layout = sheet_layout(3, (350, 350), 1024)
    assert sheet.shape == (layout.height, layout.width, 3) == (928, 928, 3)  # 2 x 2 tiles of 448
    assert entry["outputs"]["2"]["text"] == [layout.describe()]
    assert "sheet resized from 896x896 to its layout's 928x928" in entry["outputs"]["5"]["text"]

    frames = [np.array(Image.open(SAMPLE / "frames" / f"{i:05d}.jpg").convert("RGB")).astype(float)
              for i in (31, 0, 14)]
    split = saved(comfy, entry, "10")
    assert len(split) == 3
    for k, key in enumerate(split):  # each tile at its frame's place, in the order of indices: the frame, inverted
        errors = [np.abs(key - (255 - frame)).mean() for frame in frames]
        assert errors[k] < 6 and sorted(errors)[1] > 3 * errors[k], errors

    (model,) = set(models.glob("from_sheet_*.safetensors")) - before
    assert read_metadata(model)["summary"]["keyframe_indices"] == [0, 14, 31]


def test_a_sheet_of_another_aspect_fails_naming_the_layout(comfy):
    with pytest.raises(PromptFailed) as failed:
        comfy.run(sheet_graph(width=1024, height=512), timeout=300)
    error = failed.value
    assert (error.node_id, error.node_type) == ("5", "PatchToonSplitKeyframeSheet")
    assert error.exception_message.startswith("sheet: expected the sheet of 3 keyframes in 2 x 2 tiles of 448x448, "
                                              "sheet 928x928 (aspect 1.00, or any resize of it), received 1024x512")
