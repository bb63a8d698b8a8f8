"""The web extension's server routes (nodes/routes.py) on a real ComfyUI: example workflows, "Finish now"."""

import json
import time
import urllib.error
import urllib.request

import pytest

from comfy_host import setup_host
from patch_training.model.checkpoint import read_metadata

EXAMPLES = setup_host.REPO / "example_workflows"


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
    "%2Fetc%2Fpasswd", "..%5C__init__", ".hidden", "suggest_keyframes.jpg",
])
def test_a_name_outside_the_example_workflows_is_not_found(comfy, name):
    assert status_of(comfy, "GET", f"/patch_toon/workflows/{name}") == 404


def post_raw(comfy, path, data: bytes):
    """(status, JSON answer) of a POST with exactly these body bytes."""
    request = urllib.request.Request(comfy.base_url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


BAD_FINISH_BODIES = [
    b"", b"not json", b"{", b"[" * 5000 + b"]" * 5000, b"null", b'"4"', b"4", b'["4"]',
    b"{}", b'{"node": null}', b'{"node": ""}', b'{"node": true}', b'{"node": [4]}', b'{"node": {"id": 4}}',
    b'{"node": 4.5}', b'{"node": "../4"}', b'{"node": "4", "extra": 1}', b'{"node": "' + b"4" * 200 + b'"}',
    b'{"node": "5"}',  # a node that exists in the graph but is not training
    b'{"node": "4", "pad": "' + b"x" * 2_000_000 + b'"}',  # 2 MB
]


def test_finish_refuses_anything_but_a_training_node_id_and_changes_nothing(comfy):
    from test_nodes_training import LONG, queue_training, saved_models, training_graph

    answers = [post_raw(comfy, "/patch_toon/finish", body) for body in BAD_FINISH_BODIES[:4]]  # nothing training
    assert all(status == 400 and "error" in answer for status, answer in answers), answers
    prompt = training_graph(prefix="finish_routes")
    prompt["4"]["inputs"]["seed"] = 14  # not a training another test cached
    prompt_id = queue_training(comfy, prompt)
    for body in BAD_FINISH_BODIES:
        status, answer = post_raw(comfy, "/patch_toon/finish", body)
        assert status == 400 and answer["error"], (body[:40], status, answer)
    time.sleep(1.0)  # a request taken by mistake would end training at its next step
    assert prompt_id in comfy.running_prompt_ids(), "a refused request finished training"

    assert post_raw(comfy, "/patch_toon/finish", b'{"node": 4}') == (200, {"node": "4", "finish_requested": True})
    comfy.wait(prompt_id, timeout=60)
    (path,) = saved_models(comfy, "finish_routes")
    summary = read_metadata(path)["summary"]
    assert summary["stopped_early"] and summary["seconds"] < LONG
    assert post_raw(comfy, "/patch_toon/finish", b'{"node": "4"}')[0] == 400  # training is over
