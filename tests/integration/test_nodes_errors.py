"""Bad graphs reach the user as messages that name the input, what was expected and what was received.

Checks possible before the run come back from POST /prompt (ComfyUI's node_errors); the others from the
run (the execution_error in /history).
"""

import pytest
import torch
from safetensors.torch import save_file
from support import HOSTILE_CHECKPOINTS, hostile_checkpoint, random_model

from comfy_host import PromptFailed, PromptRejected
from patch_training.model.checkpoint import save_model
from patch_training.guides import GuideSpec

FRAMES, KEYFRAMES = "[patch-toon sample] frames", "[patch-toon sample] keyframes"


def load_frames(source=FRAMES, **options):
    return {"class_type": "PatchToonLoadFrames",
            "inputs": {"source": source, "start": 0, "count": 0, "every_nth": 1, "max_side": 0, **options}}


def training_graph(indices="0, 14, 31", seconds=2.0, steps=0, stylized=("2", 0)):
    """Sample frames and keyframes -> Make Keyframes -> Train -> a preview of the training preview."""
    return {
        "1": load_frames(),
        "2": load_frames(KEYFRAMES),
        "3": {"class_type": "PatchToonMakeKeyframes", "inputs": {"frames": ["1", 0], "stylized": list(stylized),
                                                                 "indices": indices}},
        "4": {"class_type": "PatchToonTrain", "inputs": {"frames": ["1", 0], "keyframes": ["3", 0], "preset": "fast",
                                                         "seconds": seconds, "steps": steps, "seed": 0}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 1]}},
    }


def stylize_graph(model_name, frames=None):
    return {
        "1": {"class_type": "PatchToonLoadModel", "inputs": {"model_name": model_name}},
        "2": frames or load_frames(count=2),
        "3": {"class_type": "PatchToonStylize", "inputs": {"model": ["1", 0], "frames": ["2", 0], "batch_size": 2,
                                                           "tile": 0}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }


def refused(comfy, prompt):
    """The (node id, input name, message) of every error POST /prompt returned."""
    with pytest.raises(PromptRejected) as error:
        comfy.queue(prompt)
    return [(node_id, e.get("extra_info", {}).get("input_name"), e["details"])
            for node_id, info in error.value.node_errors.items() for e in info["errors"]]


def failed(comfy, prompt):
    with pytest.raises(PromptFailed) as error:
        comfy.run(prompt, timeout=120)
    return error.value


def models_dir(comfy):
    folder = comfy.root / "models" / "patch_toon"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --------------------------------------------------------------------------- before the run


def test_an_empty_keyframe_list_is_refused_before_running(comfy):
    (error,) = refused(comfy, training_graph(indices=" "))
    assert error[:2] == ("3", "indices") and "indices: expected at least one frame number" in error[2]


def test_unreadable_frame_numbers_are_refused_before_running(comfy):
    prompt = {"1": load_frames(), "2": {"class_type": "PatchToonSelectFrames",
                                        "inputs": {"images": ["1", 0], "indices": "0, 10 to 20"}},
              "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}
    (error,) = refused(comfy, prompt)
    assert error[0] == "2" and "cannot read '10 to 20'" in error[2] and "ranges ('10-20')" in error[2]


def suggest_graph(count=3, have="", frames=4):
    return {"1": load_frames(count=frames),
            "2": {"class_type": "PatchToonSuggestKeyframes", "inputs": {"frames": ["1", 0], "count": count, "have": have}},
            "3": {"class_type": "PatchToonSelectFrames", "inputs": {"images": ["1", 0], "indices": ["2", 0]}},
            "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}}


def test_unreadable_already_stylized_frames_are_refused_before_running(comfy):
    (error,) = refused(comfy, suggest_graph(have="0, last"))
    assert error[:2] == ("2", "have") and "have: cannot read 'last'" in error[2]


def test_a_clip_missing_from_the_input_folder_is_refused_before_running(comfy):
    prompt = training_graph()
    prompt["1"] = load_frames("no such clip/")
    errors = refused(comfy, prompt)
    assert errors and all(e[:2] == ("1", "source") and "'no such clip/' is not in ComfyUI's input folder" in e[2]
                          for e in errors)


def test_a_file_that_is_not_a_safetensors_checkpoint_is_refused_before_running(comfy):
    (models_dir(comfy) / "notes.safetensors").write_text("these are my notes, not a model")
    (error,) = refused(comfy, stylize_graph("notes.safetensors"))
    assert error[:2] == ("1", "model_name") and "notes.safetensors is not a safetensors file" in error[2]


def test_a_safetensors_file_of_another_kind_is_refused_before_running(comfy):
    save_file({"weight": torch.zeros(2, 2)}, str(models_dir(comfy) / "lora.safetensors"))
    (error,) = refused(comfy, stylize_graph("lora.safetensors"))
    assert "not a patch_training checkpoint" in error[2] and "load it with the node made for it" in error[2]


def test_a_model_name_missing_from_the_models_folder_is_refused_before_running(comfy):
    (error,) = refused(comfy, stylize_graph("gone.safetensors"))
    assert error[:2] == ("1", "model_name") and "'gone.safetensors' is not in the patch_toon model folders" in error[2]


def test_damaged_model_files_fail_with_their_message_and_the_server_goes_on(comfy):
    for kind in HOSTILE_CHECKPOINTS:
        name = f"hostile {kind}.safetensors"
        path = hostile_checkpoint(kind, models_dir(comfy) / name)
        try:  # refused before the run when the header tells, else by Load Patch Model when it reads the weights
            comfy.run(stylize_graph(name), timeout=120)
            raise AssertionError(f"{kind}: the damaged model was used")
        except PromptRejected as error:
            (node,) = error.node_errors.values()
            messages = [e["details"] for e in node["errors"]]
            assert node["class_type"] == "PatchToonLoadModel" and messages[0].startswith(f"model_name - model: {path}"), messages
        except PromptFailed as error:
            assert error.node_type == "PatchToonLoadModel", (kind, error)
            assert error.exception_message.startswith(f"model: {path}"), (kind, error.exception_message)
            assert error.exception_type.endswith("CheckpointError")
    assert comfy.is_running()
    save_model(random_model(), models_dir(comfy) / "after_the_damaged.safetensors", overwrite=True)
    entry = comfy.run(stylize_graph("after_the_damaged.safetensors"), timeout=120)
    assert entry["status"]["status_str"] == "success"


# --------------------------------------------------------------------------- during the run


def test_more_suggested_keyframes_than_frames_are_named(comfy):
    error = failed(comfy, suggest_graph(count=3, have="0, 2"))
    assert (error.node_id, error.node_type) == ("2", "PatchToonSuggestKeyframes")
    assert error.exception_message.startswith("count: expected at most 2, the frames left to choose from (the clip "
                                              "has 4 frames, 2 of them already stylized), received 3.")


def test_keyframe_numbers_beyond_the_clip_are_named(comfy):
    error = failed(comfy, training_graph(indices="0, 14, 40"))
    assert (error.node_id, error.node_type) == ("3", "PatchToonMakeKeyframes")
    assert "indices: expected frame numbers from 0 to 31 (there are 32 frames), received [40]" in error.exception_message


def test_fewer_frame_numbers_than_stylized_keyframes_are_named(comfy):
    error = failed(comfy, training_graph(indices="0, 14"))
    assert "expected one frame number per stylized keyframe (3 images), received 2 indices [0, 14]" \
        in error.exception_message


def test_stylized_keyframes_of_another_shape_are_named(comfy):
    prompt = training_graph(indices="0", stylized=("9", 0))
    prompt["9"] = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0}}
    prompt["3"]["inputs"]["align"] = "off"  # as given (align auto registers images of any size to their frames)
    error = failed(comfy, prompt)
    assert error.node_id == "3"
    assert "keyframes: expected images of the frames' size 350x350 (width x height), received 64x48" \
        in error.exception_message


def test_a_training_budget_of_nothing_is_named(comfy):
    error = failed(comfy, training_graph(seconds=0.0, steps=0))
    assert error.node_id == "4" and "steps and seconds are both 0" in error.exception_message


def _guided_model(comfy, name, guides):
    spec = GuideSpec(guides=guides)
    model = random_model(guides=spec.channels)
    model.guides = spec.to_dict()
    model.summary = {"keyframe_indices": [0, 14, 31], "frame_size": [350, 350]}
    save_model(model, models_dir(comfy) / name, overwrite=True)


def test_a_guided_model_rebuilds_its_guides_only_for_a_clip_they_fit(comfy):
    # No guides connected: Stylize rebuilds them from the model's settings, which start from frame 31.
    _guided_model(comfy, "guided.safetensors", ("gauss", "edges"))
    error = failed(comfy, stylize_graph("guided.safetensors"))
    assert (error.node_id, error.node_type) == ("3", "PatchToonStylize")
    assert error.exception_message.startswith("frames: this model's guides start from keyframes at frames "
                                              "[0, 14, 31], received a clip of 2 frames")


def test_a_model_whose_guides_need_its_keyframes_asks_for_them(comfy):
    _guided_model(comfy, "warped.safetensors", ("gauss", "warp"))
    error = failed(comfy, stylize_graph("warped.safetensors"))
    assert error.node_id == "3"
    assert error.exception_message.startswith("guides: this model was trained with guides ['gauss', 'warp'], which "
                                              "need the stylized keyframes ('warp' guide) to rebuild; none were given")


def test_guides_given_to_a_model_trained_without_them_are_named(comfy):
    save_model(random_model(), models_dir(comfy) / "plain.safetensors", overwrite=True)
    prompt = stylize_graph("plain.safetensors")
    prompt["5"] = load_frames(KEYFRAMES)
    prompt["6"] = {"class_type": "PatchToonMakeKeyframes",
                   "inputs": {"frames": ["2", 0], "stylized": ["5", 0], "indices": "0"}}
    prompt["5"]["inputs"]["count"] = 1
    prompt["7"] = {"class_type": "PatchToonGuides", "inputs": {"frames": ["2", 0], "keyframes": ["6", 0],
                   "guides": "edges", "seed": 0, "flow_preset": "ultrafast", "detect_cuts": False}}
    prompt["3"]["inputs"]["guides"] = ["7", 0]
    error = failed(comfy, prompt)
    assert error.node_id == "3" and "this model was trained on the frames alone" in error.exception_message
