"""Compute Guides with guides 'auto' on a real ComfyUI server: the node's text says what it chose and why, and the
trained model records the same choice."""
from comfy_host import output_files
from patch_training.model.checkpoint import read_metadata

from test_nodes_training import saved_models, training_graph


def test_a_workflow_with_guides_auto_reports_its_choice_and_the_model_records_it(comfy):
    prompt = training_graph(seconds=0.0, steps=3, prefix="auto_guides", max_side=96)
    prompt["6"] = {"class_type": "PatchToonGuides", "inputs": {"frames": ["1", 0], "keyframes": ["3", 0],
                   "guides": "auto", "seed": 0, "flow_preset": "ultrafast", "detect_cuts": True}}
    prompt["4"]["inputs"]["guides"] = ["6", 0]
    prompt["7"] = {"class_type": "PatchToonStylize", "inputs": {"model": ["4", 0], "frames": ["1", 0],
                   "batch_size": 4, "tile": 0, "guides": ["6", 0]}}
    prompt["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "auto_guides"}}
    entry = comfy.run(prompt, timeout=300)

    (text,) = entry["outputs"]["6"]["text"]
    assert text.startswith("guides auto: rgb,gauss,edges") and "pairs 2" in text and "static" in text
    assert len([f for f in output_files(entry) if f["filename"].startswith("auto_guides")]) == 32
    (path,) = saved_models(comfy, "auto_guides")
    meta = read_metadata(path)
    chosen = meta["summary"]["guides_auto"]
    assert meta["guides"]["guides"] == chosen["guides"] and text.startswith("guides auto: " + ",".join(
        ["rgb", *chosen["guides"]]) + " (" + chosen["reason"])
    assert {"static", "moving", "moving_share"} <= set(chosen["stats"])
