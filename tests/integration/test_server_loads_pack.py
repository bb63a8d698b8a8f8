"""A real ComfyUI server loads the pack; the test harness converts and runs workflows end to end."""

import copy
import io
import re

import pytest
from PIL import Image

from comfy_host import PromptFailed, PromptRejected, WorkflowError, output_files, setup_host, ui_to_api

PACK = setup_host.PACK_LINK_NAME
CATEGORY_ROOT = "patch-toon"


# --------------------------------------------------------------------------- the pack


def test_the_pack_imports_without_error(comfy):
    log = comfy.log_text()
    failed = [line for line in log.splitlines() if "IMPORT FAILED" in line and PACK in line]
    assert not failed, f"ComfyUI could not import the pack (its log is in the report): {failed}"
    assert re.search(rf"^\s*[\d.]+ seconds: .*custom_nodes/{re.escape(PACK)}$", log, re.MULTILINE), (
        "the pack is missing from ComfyUI's 'Import times for custom nodes' list")


def test_every_node_of_the_pack_is_registered_under_its_category(comfy):
    module = comfy.custom_node_module(PACK)
    assert module is not None and module["NODE_CLASS_MAPPINGS"] is not None, "the pack exported no NODE_CLASS_MAPPINGS"
    in_category = {name for name, info in comfy.object_info().items()
                   if info["category"].split("/")[0] == CATEGORY_ROOT}
    assert in_category == set(module["NODE_CLASS_MAPPINGS"])


def test_every_node_of_the_pack_shows_its_display_name(comfy):
    module = comfy.custom_node_module(PACK)
    object_info = comfy.object_info()
    for name, display_name in (module["NODE_DISPLAY_NAME_MAPPINGS"] or {}).items():
        assert object_info[name]["display_name"] == display_name


def test_the_pack_web_files_are_served_as_extensions(comfy):
    module = comfy.custom_node_module(PACK)
    if not module.get("WEB_DIRECTORY"):
        pytest.skip("the pack has no WEB_DIRECTORY")
    web_dir = (setup_host.REPO / module["WEB_DIRECTORY"]).resolve()
    expected = {f"/extensions/{PACK}/{path.relative_to(web_dir).as_posix()}" for path in web_dir.rglob("*.js")}
    served = set(comfy._json("GET", "/extensions"))
    assert expected <= served


# --------------------------------------------------------------------------- the harness

# A workflow as ComfyUI's 2024 page saves it: EmptyImage (red) -> ImageInvert (bypassed) ->
# Reroute -> ImageScale (width from a PrimitiveNode) -> SaveImage, plus a Note and a muted
# PreviewImage. links: [id, origin_id, origin_slot, target_id, target_slot, type].
WORKFLOW_2024 = {
    "last_node_id": 8, "last_link_id": 6, "version": 0.4,
    "nodes": [
        {"id": 1, "type": "EmptyImage", "mode": 0, "inputs": [],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1, 6], "slot_index": 0}],
         "widgets_values": [64, 48, 1, 0xFF0000]},
        {"id": 2, "type": "ImageInvert", "mode": 4,
         "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2], "slot_index": 0}]},
        {"id": 3, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 2}],
         "outputs": [{"name": "", "type": "IMAGE", "links": [3]}]},
        {"id": 4, "type": "ImageScale", "mode": 0,
         "inputs": [{"name": "image", "type": "IMAGE", "link": 3},
                    {"name": "width", "type": "INT", "link": 4,
                     "widget": {"name": "width", "config": ["INT", {"default": 512, "min": 0}]}}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [5], "slot_index": 0}],
         "widgets_values": ["nearest-exact", 512, 24, "disabled"]},
        {"id": 5, "type": "PrimitiveNode", "mode": 0, "inputs": [],
         "outputs": [{"name": "INT", "type": "INT", "links": [4], "widget": {"name": "width"}}],
         "widgets_values": [40, "fixed"]},
        {"id": 6, "type": "SaveImage", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 5}],
         "widgets_values": ["harness"]},
        {"id": 7, "type": "Note", "mode": 0, "widgets_values": ["Notes are not sent to the server."]},
        {"id": 8, "type": "PreviewImage", "mode": 2, "inputs": [{"name": "images", "type": "IMAGE", "link": 6}]},
    ],
    "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "*"], [3, 3, 0, 4, 0, "IMAGE"],
              [4, 5, 0, 4, 1, "INT"], [5, 4, 0, 6, 0, "IMAGE"], [6, 1, 0, 8, 0, "IMAGE"]],
    "groups": [], "config": {}, "extra": {},
}

EXPECTED_PROMPT = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0xFF0000}},
    "4": {"class_type": "ImageScale", "inputs": {"upscale_method": "nearest-exact", "width": 40, "height": 24,
                                                 "crop": "disabled", "image": ["1", 0]}},
    "6": {"class_type": "SaveImage", "inputs": {"filename_prefix": "harness", "images": ["4", 0]}},
}


def as_saved_today(workflow, object_info):
    """The same graph as today's page saves it: links as objects (format 1.0), and every widget
    listed among the node's inputs with a `widget` key."""
    today = copy.deepcopy(workflow)
    today["version"] = 1.0
    today["links"] = [dict(zip(("id", "origin_id", "origin_slot", "target_id", "target_slot", "type"), link))
                      for link in workflow["links"]]
    for node in today["nodes"]:
        info = object_info.get(node["type"])
        if info is None:
            continue
        sockets = node.setdefault("inputs", [])
        present = {socket["name"] for socket in sockets}
        for group in ("required", "optional"):
            for name, spec in (info["input"].get(group) or {}).items():
                if name not in present and (isinstance(spec[0], list) or spec[0] in ("INT", "FLOAT", "STRING", "BOOLEAN")):
                    sockets.append({"name": name, "type": "COMBO" if isinstance(spec[0], list) else spec[0],
                                    "widget": {"name": name}, "link": None})
    return today


def without_meta(prompt):
    return {node_id: {key: value for key, value in node.items() if key != "_meta"} for node_id, node in prompt.items()}


def test_a_2024_workflow_converts_to_the_prompt_the_page_would_send(comfy):
    assert without_meta(ui_to_api(WORKFLOW_2024, comfy.object_info())) == EXPECTED_PROMPT


def test_a_workflow_saved_by_todays_page_converts_to_the_same_prompt(comfy):
    object_info = comfy.object_info()
    assert without_meta(ui_to_api(as_saved_today(WORKFLOW_2024, object_info), object_info)) == EXPECTED_PROMPT


def sampler_workflow(seed_socket=None, primitive=None):
    nodes = [{"id": 1, "type": "KSampler", "mode": 0,
              "inputs": [{"name": n, "type": t, "link": None} for n, t in
                         (("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                          ("latent_image", "LATENT"))] + ([seed_socket] if seed_socket else []),
              "widgets_values": [42, "randomize", 20, 8.0, "euler", "normal", 1.0]}]
    if primitive:
        nodes.append(primitive)
    links = [[9, 2, 0, 1, 4, "INT"]] if primitive else []
    return {"nodes": nodes, "links": links}


def test_the_value_after_a_seed_is_the_page_control_and_not_an_input(comfy):
    prompt = ui_to_api(sampler_workflow(), comfy.object_info())
    assert prompt["1"]["inputs"] == {"seed": 42, "steps": 20, "cfg": 8.0, "sampler_name": "euler",
                                     "scheduler": "normal", "denoise": 1.0}


def test_a_seed_converted_to_an_input_takes_the_primitive_value(comfy):
    socket = {"name": "seed", "type": "INT", "link": 9, "widget": {"name": "seed"}}
    primitive = {"id": 2, "type": "PrimitiveNode", "mode": 0, "widgets_values": [7, "fixed"],
                 "outputs": [{"name": "INT", "type": "INT", "links": [9], "widget": {"name": "seed"}}]}
    prompt = ui_to_api(sampler_workflow(socket, primitive), comfy.object_info())
    assert prompt["1"]["inputs"]["seed"] == 7 and "2" not in prompt


def test_the_upload_button_value_of_load_image_is_not_an_input(comfy):
    workflow = {"nodes": [{"id": 1, "type": "LoadImage", "mode": 0, "widgets_values": ["frame.png", "image"]}],
                "links": []}
    assert ui_to_api(workflow, comfy.object_info())["1"]["inputs"] == {"image": "frame.png"}


@pytest.mark.parametrize("values", [[64, 48, 1], [64, 48, 1, 0, 5]], ids=["too few", "too many"])
def test_widget_values_that_do_not_fit_the_node_are_refused_by_name(comfy, values):
    workflow = {"nodes": [{"id": 3, "type": "EmptyImage", "mode": 0, "widgets_values": values}], "links": []}
    with pytest.raises(WorkflowError, match=r"node 3 \(EmptyImage\)"):
        ui_to_api(workflow, comfy.object_info())


def test_a_node_type_unknown_to_the_server_is_refused_by_name(comfy):
    workflow = {"nodes": [{"id": 1, "type": "NoSuchNode", "mode": 0, "widgets_values": []}], "links": []}
    with pytest.raises(WorkflowError, match="NoSuchNode"):
        ui_to_api(workflow, comfy.object_info())


def test_a_converted_workflow_runs_and_saves_its_image(comfy):
    entry = comfy.run(ui_to_api(WORKFLOW_2024, comfy.object_info()), timeout=120)

    files = output_files(entry)
    assert len(files) == 1 and (comfy.output_dir / files[0]["subfolder"] / files[0]["filename"]).is_file()
    image = Image.open(io.BytesIO(comfy.get_file(**files[0]))).convert("RGB")
    assert image.size == (40, 24)
    assert image.getpixel((0, 0)) == (255, 0, 0)  # red: the bypassed ImageInvert did not run


def test_an_invalid_prompt_is_refused_with_comfyui_node_errors(comfy):
    prompt = copy.deepcopy(EXPECTED_PROMPT)
    del prompt["1"]["inputs"]["height"]
    with pytest.raises(PromptRejected) as refused:
        comfy.queue(prompt)
    assert refused.value.node_errors["1"]["errors"][0]["details"] == "height"


def test_a_failing_node_is_reported_with_its_id_and_exception(comfy):
    with pytest.raises(PromptFailed) as failed:
        comfy.run({"5": {"class_type": "HarnessFail", "inputs": {"message": "broken on purpose"}}}, timeout=60)
    error = failed.value
    assert (error.node_id, error.exception_type, error.exception_message) == ("5", "ValueError", "broken on purpose")


def test_interrupt_stops_a_running_prompt(comfy):
    prompt_id = comfy.queue({"1": {"class_type": "HarnessWait", "inputs": {"seconds": 120.0}}})
    assert comfy.interrupt(prompt_id)
    with pytest.raises(PromptFailed) as failed:
        comfy.wait(prompt_id, timeout=60)
    assert failed.value.interrupted
