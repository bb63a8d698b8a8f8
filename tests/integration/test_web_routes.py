"""The web extension's server routes (nodes/routes.py) on a real ComfyUI: example workflows, "Finish now"."""

import json
import urllib.error

import pytest

from comfy_host import setup_host

EXAMPLES = setup_host.REPO / "examples_workflows"


def get(comfy, path):
    return comfy._json("GET", path)


def status_of(comfy, method, path, body=None):
    try:
        comfy._request(method, path, body)
        return 200
    except urllib.error.HTTPError as err:
        return err.code


def test_the_workflows_route_lists_every_example_workflow(comfy):
    listed = get(comfy, "/patch_toon/workflows")

    assert sorted(item["name"] for item in listed) == sorted(path.stem for path in EXAMPLES.glob("*.json"))
    for item in listed:
        workflow = json.loads((EXAMPLES / f"{item['name']}.json").read_text())
        assert item["title"] and item["nodes"] == len(workflow["nodes"])


def test_each_example_workflow_is_served_as_saved(comfy):
    for path in EXAMPLES.glob("*.json"):
        assert get(comfy, f"/patch_toon/workflows/{path.stem}") == json.loads(path.read_text())


@pytest.mark.parametrize("name", [
    "no_such_workflow", "..%2Fpyproject", "..%2F..%2Fpyproject.toml", "%2E%2E", "assets",
    "%2Fetc%2Fpasswd", "..%5C__init__", ".hidden",
])
def test_a_name_outside_the_example_workflows_is_not_found(comfy, name):
    assert status_of(comfy, "GET", f"/patch_toon/workflows/{name}") == 404


@pytest.mark.parametrize("body", [{}, {"node": None}, {"node": ""}, {"node": True}, {"node": [1]}, ["5"]])
def test_finish_refuses_a_body_without_a_node_id(comfy, body):
    assert status_of(comfy, "POST", "/patch_toon/finish", body) == 400


def test_finish_accepts_a_node_id_as_text_or_number(comfy):
    assert comfy._json("POST", "/patch_toon/finish", {"node": "12"}) == {"node": "12", "finish_requested": True}
    assert comfy._json("POST", "/patch_toon/finish", {"node": 12}) == {"node": "12", "finish_requested": True}
