"""What ComfyUI's page learns about the pack's nodes: ids, categories, aliases, help pages, tooltips, seeds."""

import re
import urllib.request

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
        assert words[0] in {"Load", "Select", "Suggest", "Make", "Split", "Compute", "Train", "Stylize",
                            "Save"}, name  # verb first
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


CATEGORIES = {  # each family of nodes in its own category of the node library; the node ids never change
    "patch-toon/frames": {"PatchToonLoadFrames", "PatchToonSelectFrames", "PatchToonSuggestKeyframes",
                          "PatchToonMakeKeyframes", "PatchToonMakeKeyframeSheet", "PatchToonSplitKeyframeSheet"},
    "patch-toon/guides": {"PatchToonGuides", "PatchToonGuidesAdvanced"},
    "patch-toon/training": {"PatchToonTrain", "PatchToonTrainAdvanced"},
    "patch-toon/stylize": {"PatchToonStylize", "PatchToonStylizeFile"},
    "patch-toon/models": {"PatchToonSaveModel", "PatchToonLoadModel"},
}
METHOD_WORDS = {"ebsynth", "style transfer", "video stylization", "few-shot", "texler"}


def test_each_family_of_nodes_has_its_own_category(pack_nodes):
    found = {}
    for name, info in pack_nodes.items():
        found.setdefault(info["category"], set()).add(name)
    assert found == CATEGORIES


def test_every_node_has_search_aliases_and_the_method_nodes_answer_to_the_methods_other_names(comfy, pack_nodes):
    aliases = comfy.custom_node_module(PACK)["SEARCH_ALIASES"]  # what newer servers send as search_aliases
    assert set(aliases) == set(pack_nodes)
    for name, words in aliases.items():
        assert words and all(isinstance(w, str) and w == w.strip().lower() for w in words), (name, words)
        assert len(set(words)) == len(words), (name, words)
    for name in CATEGORIES["patch-toon/training"] | CATEGORIES["patch-toon/stylize"]:
        assert METHOD_WORDS <= set(aliases[name]), name
    for name in pack_nodes.keys() - CATEGORIES["patch-toon/training"] - CATEGORIES["patch-toon/stylize"]:
        assert not METHOD_WORDS & set(aliases[name]), name  # frames, guides, models: their own words


def help_page(comfy, node_id):
    """GET /extensions/<pack>/docs/<node id>.md: where today's frontend looks for a custom node's help page (after
    docs/<node id>/<locale>.md), served from the pack's WEB_DIRECTORY."""
    with urllib.request.urlopen(f"{comfy.base_url}/extensions/{PACK}/docs/{node_id}.md", timeout=30) as answer:
        return answer.headers.get("Content-Type", ""), answer.read().decode("utf-8")


def test_every_node_has_a_help_page_that_describes_each_of_its_inputs_and_outputs(comfy, pack_nodes):
    for name, info in pack_nodes.items():
        content_type, page = help_page(comfy, name)
        assert "html" not in content_type and not page.lstrip().lower().startswith("<"), name  # else not shown
        assert page.splitlines()[0] == f"# {info['display_name']}", name
        assert f"`{name}`" in page and f"`{info['category']}`" in page, name
        inputs = [n for group in ("required", "optional") for n in info["input"].get(group) or {}]
        missing = [n for n in inputs + list(info["output_name"]) if f"**{n}**" not in page]
        assert not missing, (name, missing)
    pages = {path.stem for path in (setup_host.REPO / "web" / "docs").glob("*.md")}
    assert pages == set(pack_nodes)  # no page of a node that is not there


def test_every_seed_is_a_plain_int_named_seed_which_the_page_starts_at_fixed(comfy, pack_nodes):
    # Both frontends give an INT named `seed` a "control after generate" widget starting at "randomize";
    # web/fixed_seeds.js starts it at "fixed" on new nodes of the pack (tests/browser checks it on the page).
    # Any other seed-like input (noise_seed, a control_after_generate option) would escape it.
    seeds = set()
    for name, info in pack_nodes.items():
        for group in ("required", "optional"):
            for input_name, spec in (info["input"].get(group) or {}).items():
                options = spec[1] if len(spec) > 1 else {}
                if "seed" in input_name or "control_after_generate" in options:
                    assert input_name == "seed" and spec[0] == "INT", (name, input_name)
                    assert "control_after_generate" not in options, (name, input_name)
                    seeds.add(name)
    assert seeds == {"PatchToonGuides", "PatchToonGuidesAdvanced", "PatchToonTrain", "PatchToonTrainAdvanced"}
    assert f"/extensions/{PACK}/fixed_seeds.js" in comfy._json("GET", "/extensions")
