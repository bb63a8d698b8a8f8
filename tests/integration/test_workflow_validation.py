"""Every shipped workflow checks out against both ComfyUI hosts the pack supports, before anything runs.

- March 2024: the live test server's /object_info (its core nodes and this pack's).
- Today's (v0.8.0): its core nodes as recorded in tests/fixtures/object_info_comfyui_v0.8.0.json by
  tools/record_object_info.py, merged with this pack's live definitions (the fixture leaves the pack out, so it
  never goes stale for it).

Checked (tests/comfy_host/validate.py, and comfy-lint as a second opinion): every node type exists, every link
joins an output to an input of its type, every widget value fits its input (combo choice in the list, model file
names exempt; numbers in range).
A workflow needing core nodes that the 2024 host lacks (newer models' nodes) is skipped there, with the reason.
"""
import copy
import json

import pytest

from comfy_host import setup_host
from comfy_host.validate import merged_object_info, missing_node_types, workflow_problems

EXAMPLES = setup_host.REPO / "example_workflows"
TODAY_FIXTURE = setup_host.REPO / "tests" / "fixtures" / "object_info_comfyui_v0.8.0.json"
WORKFLOWS = sorted(path.name for path in EXAMPLES.glob("*.json"))


def load(name):
    return json.loads((EXAMPLES / name).read_text())


@pytest.fixture(scope="module")
def today_object_info(comfy):
    recorded = json.loads(TODAY_FIXTURE.read_text())
    assert recorded["comfyui"]["version"].startswith("0.8."), recorded["comfyui"]
    return merged_object_info(recorded["nodes"], comfy.object_info())


@pytest.mark.parametrize("name", WORKFLOWS)
def test_the_shipped_workflow_checks_out_on_the_2024_server(comfy, name):
    workflow, object_info = load(name), comfy.object_info()
    missing = missing_node_types(workflow, object_info)
    assert not [node for node in missing if node.startswith("PatchToon")], missing  # the pack's own: never
    if missing:
        pytest.skip(f"{name} needs nodes that ComfyUI of March 2024 lacks: {', '.join(missing)}")
    assert workflow_problems(workflow, object_info) == []


@pytest.mark.parametrize("name", WORKFLOWS)
def test_the_shipped_workflow_checks_out_on_todays_comfyui(today_object_info, name):
    assert workflow_problems(load(name), today_object_info) == []


def test_the_check_finds_what_a_server_would_refuse(today_object_info):
    # The check can fail: each kind of fault, put into a copy of the diffusion workflow, is named.
    workflow = load("diffusion_keyframes.json")
    by_type = {node["type"]: node for node in workflow["nodes"]}
    broken = copy.deepcopy(workflow)
    nodes = {node["type"]: node for node in broken["nodes"]}
    nodes["KSampler"]["widgets_values"][2] = 0  # steps: min 1
    nodes["KSampler"]["widgets_values"][4] = "no_such_sampler"
    link = next(link for link in broken["links"] if link[5] == "LATENT")
    link[5] = "IMAGE"
    problems = workflow_problems(broken, today_object_info)
    assert any("steps: 0 is out of range" in p for p in problems), problems
    assert any("'no_such_sampler' is not one of its choices" in p for p in problems), problems
    assert any(f"link {link[0]}:" in p and "IMAGE" in p for p in problems), problems

    renamed = copy.deepcopy(workflow)
    next(n for n in renamed["nodes"] if n["id"] == by_type["KSampler"]["id"])["type"] = "KSamplerFromTheFuture"
    assert workflow_problems(renamed, today_object_info) == ["node type 'KSamplerFromTheFuture' is not on the server"]

    # A model file name the host lacks is fine (the user's own file); any other unknown choice is not.
    assert workflow_problems(workflow, today_object_info) == []
    assert today_object_info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] in ([], "COMBO")


def test_comfy_lint_finds_nothing_else_in_the_shipped_workflows(comfy, today_object_info):
    # A second opinion, written by others (comfy-lint, on PyPI): it lints the API prompt a workflow becomes
    # against the same definitions. Its only finding may be a model file the host lacks (the user's own file).
    from comfy_lint import lint_workflow
    from comfy_lint.schema import normalize

    from comfy_host import ui_to_api
    from comfy_host.validate import MODEL_FILE_EXTENSIONS

    checked = 0
    for object_info in (comfy.object_info(), today_object_info):
        schema = normalize(object_info)
        for name in WORKFLOWS:
            workflow = load(name)
            if missing_node_types(workflow, object_info):
                continue  # skipped on that host above, with the reason
            findings = [(d.rule, d.class_type, d.field, d.message) for d in lint_workflow(
                ui_to_api(workflow, object_info), schema)]
            assert [f for f in findings if not (f[0] == "invalid-enum" and any(
                ext in f[3] for ext in MODEL_FILE_EXTENSIONS))] == [], (name, findings)
            checked += 1
    assert checked >= 2 * 5
