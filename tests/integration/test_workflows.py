"""The example workflows, as a user would load them, run on a real ComfyUI server (March 2024).

Training budgets are shortened for the tests by editing the converted prompt's widget values (the saved
workflows train for 60 s or more; a 2-core CI machine runs the whole suite in minutes), and the animations
are encoded with WEBP's fastest method (still lossless: the frames are the same, the file a little larger).
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from comfy_host import PromptRejected, output_files, setup_host, ui_to_api
from comfy_host.workflow import SEED_NAMES, WIDGET_TYPES
from support import TODAYS_COMFYUI_ONLY, todays_core_nodes

REPO = setup_host.REPO
EXAMPLES = REPO / "example_workflows"
SAMPLE_FRAMES = EXAMPLES / "assets" / "sample" / "frames"
TEST_SECONDS = 10.0  # instead of the workflow's 60 s


def load(name):
    return json.loads((EXAMPLES / name).read_text())


def nodes_of(workflow, type_):
    return [str(node["id"]) for node in workflow["nodes"] if node["type"] == type_]


def only(ids):
    assert len(ids) == 1, ids
    return ids[0]


def node_definitions(name, object_info):
    """The node definitions a shipped workflow is checked against: the server's, and for a workflow of today's
    ComfyUI only (TODAYS_COMFYUI_ONLY), today's definitions of its core nodes over the 2024 server's."""
    return {**object_info, **todays_core_nodes()} if Path(name).stem in TODAYS_COMFYUI_ONLY else object_info


def webp_frames(data):
    """Every frame of an animated WEBP as uint8 [T, H, W, 3]."""
    image = Image.open(io.BytesIO(data))
    frames = []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(np.array(image.convert("RGB")))
    return np.stack(frames)


def sample_frames():
    return np.stack([np.array(Image.open(path).convert("RGB")) for path in sorted(SAMPLE_FRAMES.glob("*.jpg"))])


def quick_webp(workflow, prompt):
    for node_id in nodes_of(workflow, "SaveAnimatedWEBP"):
        assert prompt[node_id]["inputs"]["lossless"]
        prompt[node_id]["inputs"]["method"] = "fastest"
    return prompt


def cached_nodes(entry):
    """The node ids ComfyUI reused from its cache in this run (its execution_cached message)."""
    return set(dict(entry["status"]["messages"])["execution_cached"]["nodes"])


@pytest.fixture(scope="module")
def sample_run(comfy):
    """Workflow 1 run once: the prompt sent, its history entry, the saved model and the animation's frames."""
    workflow = load("train_and_stylize_sample.json")
    prompt = quick_webp(workflow, ui_to_api(workflow, comfy.object_info()))
    train = only(nodes_of(workflow, "PatchToonTrain"))
    prompt[train]["inputs"]["seconds"] = TEST_SECONDS
    models_before = set((comfy.root / "models" / "patch_toon").glob("*.safetensors"))
    entry = comfy.run(prompt, timeout=300)
    models = set((comfy.root / "models" / "patch_toon").glob("*.safetensors")) - models_before
    webps = [f for f in output_files(entry) if f["filename"].endswith(".webp")]
    assert len(webps) == 1 and len(models) == 1, (webps, models)
    return {"workflow": workflow, "prompt": prompt, "entry": entry, "model": models.pop(),
            "webp": webps[0], "frames": webp_frames(comfy.get_file(**webps[0]))}


def test_every_example_workflow_uses_only_known_nodes_and_well_typed_links(comfy):
    names = sorted(path.name for path in EXAMPLES.glob("*.json"))
    assert names == ["diffusion_keyframes.json", "flux_kontext_keyframe_sheet.json",
                     "qwen_image_edit_keyframe_sheet.json", "stylize_video_file.json", "stylize_with_checkpoint.json", "suggest_keyframes.json",
                     "train_and_stylize_sample.json"]
    for name in names:
        object_info = node_definitions(name, comfy.object_info())
        workflow = load(name)
        nodes = {node["id"]: node for node in workflow["nodes"]}
        for link_id, origin, slot, target, target_slot, type_ in workflow["links"]:
            source_info, target_node = object_info[nodes[origin]["type"]], nodes[target]
            assert source_info["output"][slot] == type_, (name, link_id)
            socket = target_node["inputs"][target_slot]
            assert socket["link"] == link_id and socket["type"] == type_, (name, link_id)
            spec = {**object_info[target_node["type"]]["input"]["required"],
                    **object_info[target_node["type"]]["input"].get("optional", {})}
            assert spec[socket["name"]][0] == type_, (name, link_id, socket["name"])
        prompt = ui_to_api(workflow, object_info)  # every node known, widget values fit its inputs
        for node_id, node in prompt.items():
            required = object_info[node["class_type"]]["input"]["required"]
            assert set(required) <= set(node["inputs"]), (name, node_id, set(required) - set(node["inputs"]))


def test_every_example_workflow_has_a_small_jpg_thumbnail_for_the_templates_dialog():
    # Today's ComfyUI shows <name>.jpg beside <name>.json (it asks for .jpg only); tools/make_thumbnails.py.
    for path in sorted(EXAMPLES.glob("*.json")):
        thumbnail = path.with_suffix(".jpg")
        assert thumbnail.is_file(), f"{thumbnail.name} is missing: run tools/make_thumbnails.py"
        with Image.open(thumbnail) as image:
            assert image.format == "JPEG" and image.size == (400, 300), (thumbnail.name, image.format, image.size)
        assert thumbnail.stat().st_size < 60_000, thumbnail.name
    # Nothing else is listed: the Templates dialog reads the folder's own *.json, not assets/ below it.
    assert {p.name for p in EXAMPLES.iterdir() if p.is_dir()} == {"assets"}
    assert not list((EXAMPLES / "assets").glob("*.json"))


# The model folders whose files today's missing-models dialog can check, by the loader input that names one.
MODEL_INPUTS = {("CheckpointLoaderSimple", "ckpt_name"): "checkpoints", ("UNETLoader", "unet_name"): "diffusion_models",
                ("DualCLIPLoader", "clip_name1"): "text_encoders", ("DualCLIPLoader", "clip_name2"): "text_encoders",
                ("CLIPLoader", "clip_name"): "text_encoders", ("VAELoader", "vae_name"): "vae"}


def test_a_workflow_that_needs_weights_names_them_for_the_missing_models_dialog(comfy):
    # The format is today's frontend's (its workflow schema: a top-level "models" list of {name, url, directory},
    # hash optional): one entry per model file a loader asks for, nothing downloaded by the pack.
    needing = set()
    for path in sorted(EXAMPLES.glob("*.json")):
        workflow = load(path.name)
        prompt = ui_to_api(workflow, node_definitions(path.name, comfy.object_info()))
        wanted = {(folder, node["inputs"][name]) for node in prompt.values()
                  for (type_, name), folder in MODEL_INPUTS.items() if node["class_type"] == type_}
        entries = workflow.get("models", [])
        for entry in entries:
            assert set(entry) - {"hash", "hash_type"} == {"name", "url", "directory"}, (path.name, entry)
            assert entry["url"].startswith("https://huggingface.co/"), entry["url"]
            assert entry["url"].split("?")[0].endswith("/" + entry["name"]), entry
        assert {(e["directory"], e["name"]) for e in entries} == wanted, path.name
        if wanted:
            needing.add(path.stem)
    assert needing == {"diffusion_keyframes", "flux_kontext_keyframe_sheet", "qwen_image_edit_keyframe_sheet"}


def saved_seed_controls(node, info):
    """{seed input: the "control after generate" value saved right after it} of a UI-format node: the page
    stores that value in widgets_values after the seed's own (and nothing after the pack's other widgets)."""
    values, position, controls = node.get("widgets_values") or [], 0, {}
    for group in ("required", "optional"):
        for name, spec in (info["input"].get(group) or {}).items():
            if not (isinstance(spec[0], list) or spec[0] in WIDGET_TYPES) or position >= len(values):
                continue
            position += 1
            if spec[0] == "INT" and name in SEED_NAMES:
                controls[name] = values[position] if position < len(values) else None
                position += 1
    return controls


def test_the_shipped_workflows_keep_every_seed_of_the_packs_nodes_fixed(comfy):
    # A seed left at "randomize" would retrain on every queue; the values line up with the widgets (the
    # control's value right after each seed) in the files tools/build_workflows.py writes.
    object_info, seen = comfy.object_info(), 0
    for path in sorted(EXAMPLES.glob("*.json")):
        for node in json.loads(path.read_text())["nodes"]:
            if node["type"].startswith("PatchToon"):
                for name, control in saved_seed_controls(node, object_info[node["type"]]).items():
                    assert control == "fixed", (path.name, node["id"], node["type"], name, control)
                    seen += 1
    assert seen >= 3  # Train Patch Model twice, Compute Guides once


def test_the_sample_workflow_saves_one_stylized_frame_per_input_frame(sample_run):
    inputs = sample_frames()
    assert sample_run["frames"].shape == inputs.shape == (32, 350, 350, 3)
    difference = np.abs(sample_run["frames"].astype(float) - inputs).mean() / 255
    assert difference > 0.03, "the stylized frames are (nearly) the input frames"


def test_the_saved_model_stylizes_like_the_command_line(sample_run, tmp_path):
    # The CLI and the server use the library's thread policy (one torch thread on <= 4 cores) and the
    # same precision (bf16 autocast where the CPU has it), so they compute the same values; Save Animated
    # WEBP truncates to 8 bits where the CLI rounds: at most 1/255 apart. The guides are rebuilt bit for bit
    # alike by the server's numpy 1.26 and the CLI's numpy 2 (OpenCV's exp, explicit float64 where numpy's
    # type promotion changed), so no CPU-dependent tolerance is needed.
    # The CLI writes frames under their input names and formats: PNG copies of the JPEG frames (the same
    # decoded pixels) give lossless results to compare.
    frames, out = tmp_path / "frames", tmp_path / "cli"
    frames.mkdir()
    for path in sorted(SAMPLE_FRAMES.glob("*.jpg")):
        Image.open(path).save(frames / (path.stem + ".png"))
    subprocess.run([sys.executable, "-m", "patch_training", "stylize", "--model", str(sample_run["model"]),
                    "--frames", str(frames), "--out", str(out)], cwd=REPO, check=True, capture_output=True,
                   timeout=300)
    cli = np.stack([np.array(Image.open(path).convert("RGB")) for path in sorted(out.glob("*.png"))])
    assert cli.shape == sample_run["frames"].shape
    difference = np.abs(cli.astype(int) - sample_run["frames"])
    assert difference.max() <= 1


def test_the_saved_model_describes_its_training(sample_run):
    from patch_training.model.checkpoint import read_metadata

    summary = read_metadata(sample_run["model"])["summary"]
    assert summary["keyframe_indices"] == [0, 14, 31] and summary["frame_size"] == [350, 350]
    assert summary["steps"] > 0 and not summary["stopped_early"]


def test_queueing_the_same_graph_again_reuses_every_result(comfy, sample_run):
    entry = comfy.run(sample_run["prompt"], timeout=60)
    assert cached_nodes(entry) == set(sample_run["prompt"])


def test_changing_only_the_animation_settings_does_not_retrain(comfy, sample_run):
    prompt = json.loads(json.dumps(sample_run["prompt"]))
    save = only(nodes_of(sample_run["workflow"], "SaveAnimatedWEBP"))
    prompt[save]["inputs"]["fps"] = 5.0
    entry = comfy.run(prompt, timeout=60)
    trained = {only(nodes_of(sample_run["workflow"], t)) for t in ("PatchToonTrain", "PatchToonStylize")}
    assert trained <= cached_nodes(entry) and save not in cached_nodes(entry)


@pytest.fixture(scope="module")
def checkpoint_prompt(comfy, sample_run):
    """Workflow 2 pointed at the model that workflow 1 saved."""
    workflow = load("stylize_with_checkpoint.json")
    prompt = quick_webp(workflow, ui_to_api(workflow, comfy.object_info()))
    loader = only(nodes_of(workflow, "PatchToonLoadModel"))
    prompt[loader]["inputs"]["model_name"] = sample_run["model"].name
    return workflow, prompt, loader


def test_the_checkpoint_workflow_stylizes_like_the_training_workflow(comfy, sample_run, checkpoint_prompt):
    workflow, prompt, _ = checkpoint_prompt
    entry = comfy.run(prompt, timeout=300)
    (webp,) = [f for f in output_files(entry) if f["filename"].endswith(".webp")]
    frames = webp_frames(comfy.get_file(**webp))
    assert np.array_equal(frames, sample_run["frames"])


def test_an_unchanged_checkpoint_is_not_loaded_again_and_a_replaced_one_is(comfy, checkpoint_prompt, sample_run):
    workflow, prompt, loader = checkpoint_prompt
    save = only(nodes_of(workflow, "SaveAnimatedWEBP"))
    prompt = json.loads(json.dumps(prompt))
    prompt[save]["inputs"]["fps"] = 7.0
    assert loader in cached_nodes(comfy.run(prompt, timeout=300))

    stat = sample_run["model"].stat()
    later = stat.st_mtime_ns + 2_000_000_000
    os.utime(sample_run["model"], ns=(later, later))  # same bytes, but the file looks replaced
    prompt[save]["inputs"]["fps"] = 8.0
    assert loader not in cached_nodes(comfy.run(prompt, timeout=300))


def test_the_diffusion_workflow_checks_out_against_the_server_but_for_its_weights(comfy):
    # No diffusion weights in CI: the server refuses only the checkpoint name, nothing else in the graph.
    prompt = ui_to_api(load("diffusion_keyframes.json"), comfy.object_info())
    with pytest.raises(PromptRejected) as refused:
        comfy.queue(prompt)
    errors = [(info["class_type"], error["details"]) for info in refused.value.node_errors.values()
              for error in info["errors"]]
    assert errors and all(kind == "CheckpointLoaderSimple" and detail.startswith("ckpt_name")
                          for kind, detail in errors), errors


@pytest.mark.parametrize("name", sorted(TODAYS_COMFYUI_ONLY))
def test_the_image_edit_workflows_check_out_against_the_server_but_for_their_weights(comfy, name):
    # As the diffusion workflow above, on a server that has the image-edit models' core nodes; the 2024 test host
    # lacks them, and says which.
    workflow = load(f"{name}.json")
    object_info = comfy.object_info()
    core = todays_core_nodes()
    missing = sorted({node["type"] for node in workflow["nodes"] if node["type"] in core
                      and set(core[node["type"]]["input"]["required"]) - set(object_info.get(node["type"], {})
                                                                                .get("input", {}).get("required", {}))})
    if missing:
        pytest.skip(f"{name}: {TODAYS_COMFYUI_ONLY[name]}; this server lacks {', '.join(missing)} (or their inputs)")
    with pytest.raises(PromptRejected) as refused:
        comfy.queue(ui_to_api(workflow, object_info))
    loaders = {type_ for type_, _ in MODEL_INPUTS}
    errors = [(info["class_type"], error["details"]) for info in refused.value.node_errors.values()
              for error in info["errors"]]
    assert errors and all(kind in loaders for kind, _ in errors), errors


def test_the_sheet_workflows_pass_the_same_indices_and_max_side_to_both_sheet_nodes():
    # The layout is recomputed from the indices, the frames and max_side: the two sheet nodes must agree on them.
    for name in TODAYS_COMFYUI_ONLY:
        workflow = load(f"{name}.json")
        (make,) = [n for n in workflow["nodes"] if n["type"] == "PatchToonMakeKeyframeSheet"]
        (split,) = [n for n in workflow["nodes"] if n["type"] == "PatchToonSplitKeyframeSheet"]
        assert make["widgets_values"][1] == split["widgets_values"][1], name  # max_side
        indices = next(s for s in split["inputs"] if s["name"] == "indices")
        link = next(l for l in workflow["links"] if l[0] == indices["link"])
        assert (link[1], link[2]) == (make["id"], 1), name  # Make Keyframe Sheet's indices output
        frames = [next(l[1] for l in workflow["links"] if l[0] == s["link"])
                  for node in (make, split) for s in node["inputs"] if s["name"] == "frames"]
        assert len(set(frames)) == 1, name  # the same clip


def test_the_suggest_workflow_saves_the_suggested_frames_as_shipped(comfy):
    # As shipped: Suggest Keyframes' indices, linked into Select Frames' indices input, pick the frames to paint.
    workflow = load("suggest_keyframes.json")
    prompt = ui_to_api(workflow, comfy.object_info())
    suggest = only(nodes_of(workflow, "PatchToonSuggestKeyframes"))
    select = only(nodes_of(workflow, "PatchToonSelectFrames"))
    assert prompt[select]["inputs"]["indices"] == [suggest, 0]
    entry = comfy.run(prompt, timeout=300)

    from patch_training.frames.sources import FrameSource
    from patch_training.frames.suggest import suggest_keyframes
    expected = suggest_keyframes(FrameSource(SAMPLE_FRAMES).read_all(), prompt[suggest]["inputs"]["count"])
    assert len(expected.indices) == 3
    assert entry["outputs"][suggest]["text"][0].startswith(f"suggested frames {expected.select_frames} of 32")
    saved = [f for f in output_files(entry) if f["type"] == "output" and f["filename"].endswith(".png")]
    assert len(saved) == 3
    images = np.stack([np.array(Image.open(io.BytesIO(comfy.get_file(**f))).convert("RGB"))
                       for f in sorted(saved, key=lambda f: f["filename"])])
    assert np.abs(images.astype(int) - sample_frames()[expected.indices]).max() <= 1  # the suggested frames


def test_a_workflow_saved_before_warm_start_and_the_strip_existed_still_runs(comfy):
    # Workflow 1 as shipped before Train Patch Model had warm_start, init_model and strip: the page gives a
    # missing widget its default (warm start on), and the outputs it links keep their places.
    old = json.loads((REPO / "tests" / "fixtures" / "workflow_train_sample_before_warm_start.json").read_text())
    prompt = quick_webp(old, ui_to_api(old, comfy.object_info()))
    train = only(nodes_of(old, "PatchToonTrain"))
    assert prompt[train]["inputs"]["warm_start"] is True
    prompt[train]["inputs"].update(seconds=0.0, steps=5, seed=11)
    entry = comfy.run(prompt, timeout=300)
    assert [f for f in output_files(entry) if f["filename"].endswith(".webp")]
