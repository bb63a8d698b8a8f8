"""What ComfyUI's page learns about the pack's nodes from /object_info: names, categories, tooltips, types."""

import re

import pytest
from support import random_model

from comfy_host import setup_host
from patch_training.model.checkpoint import save_model

PACK = setup_host.PACK_LINK_NAME
CUSTOM_TYPES = {"PATCH_MODEL", "PATCH_KEYFRAMES", "PATCH_GUIDES"}


@pytest.fixture(scope="module")
def pack_nodes(comfy):
    names = comfy.custom_node_module(PACK)["NODE_CLASS_MAPPINGS"]
    info = comfy.object_info()
    return {name: info[name] for name in names}


def test_the_pack_offers_the_whole_node_set(pack_nodes):
    assert {info["display_name"] for info in pack_nodes.values()} >= {
        "Load Frames", "Select Frames", "Make Keyframes", "Compute Guides", "Train Patch Model", "Stylize Frames",
        "Save Patch Model", "Load Patch Model"}


def test_node_ids_and_display_names_follow_comfyui_conventions(pack_nodes):
    for name, info in pack_nodes.items():
        assert re.fullmatch(r"PatchToon[A-Z][A-Za-z0-9]*", name), name
        words = info["display_name"].removesuffix(" (Advanced)").split()
        assert words[0] in {"Load", "Select", "Suggest", "Make", "Compute", "Train", "Stylize", "Save"}, name  # verb first
        assert all(word[0].isupper() for word in words), name
        assert re.fullmatch(r"patch-toon/[a-z]+", info["category"]), name


def test_every_node_describes_itself_and_every_input_has_a_tooltip(pack_nodes):
    for name, info in pack_nodes.items():
        assert len(info["description"]) > 40, name
        for group in ("required", "optional"):
            for input_name, spec in (info["input"].get(group) or {}).items():
                assert re.fullmatch(r"[a-z][a-z0-9_]*", input_name), (name, input_name)
                options = spec[1] if len(spec) > 1 else {}
                assert len(options.get("tooltip", "")) > 15, (name, input_name)


def test_custom_types_connect_only_pack_nodes_to_each_other(pack_nodes):
    produced = {t for info in pack_nodes.values() for t in info["output"] if t in CUSTOM_TYPES}
    consumed = {spec[0] for info in pack_nodes.values() for group in ("required", "optional")
                for spec in (info["input"].get(group) or {}).values() if isinstance(spec[0], str)} & CUSTOM_TYPES
    assert produced == consumed == CUSTOM_TYPES


def test_load_frames_lists_the_input_folders_clips_and_the_bundled_sample(comfy):
    clip = comfy.input_dir / "my clip"
    clip.mkdir(exist_ok=True)
    (clip / "0001.png").write_bytes(b"")  # listed by name; read only when loaded
    (comfy.input_dir / "shot.mp4").write_bytes(b"")
    choices = comfy.object_info("PatchToonLoadFrames")["PatchToonLoadFrames"]["input"]["required"]["source"][0]
    assert {"my clip/", "shot.mp4", "[patch-toon sample] frames", "[patch-toon sample] keyframes"} <= set(choices)


def test_load_patch_model_lists_the_models_folder_then_the_sample_style(comfy):
    save_model(random_model(), comfy.root / "models" / "patch_toon" / "listed.safetensors", overwrite=True)
    info = comfy.object_info("PatchToonLoadModel")["PatchToonLoadModel"]
    choices = info["input"]["required"]["model_name"][0]
    assert "listed.safetensors" in choices and choices[-1] == "[patch-toon sample] style"


def test_the_training_nodes_name_their_options_as_the_command_line_and_the_manifest_do(pack_nodes):
    import dataclasses

    from patch_training.config import TrainConfig
    from patch_training.pipeline.train_files import TrainOptions

    options = {f.name for f in dataclasses.fields(TrainOptions)}  # the CLI's --options, the manifest's keys
    node_only = {"frames", "keyframes", "init_model", "warm_start"}  # the graph's inputs, not options
    settings = {f.name for f in dataclasses.fields(TrainConfig)}  # finer settings the CLI does not offer
    for node in ("PatchToonTrain", "PatchToonTrainAdvanced"):
        inputs = {name for group in ("required", "optional") for name in pack_nodes[node]["input"].get(group) or {}}
        assert inputs - node_only <= options | settings, (node, sorted(inputs - node_only - options - settings))
        assert {"preset", "seconds", "steps", "seed", "guides"} <= inputs
    assert {"loss", "precision", "base", "patch_size", "prior"} <= set(
        pack_nodes["PatchToonTrainAdvanced"]["input"]["required"]) | set(
        pack_nodes["PatchToonTrainAdvanced"]["input"]["optional"])
