"""Training progress events on a real ComfyUI server: to the page that queued the prompt, not to every page;
without images for a page whose monitor shows none (POST /patch_toon/monitor)."""

import time
import urllib.error
import uuid

import pytest

from test_nodes_training import training_graph

from comfy_host.websocket import WebSocketClient

EVENT = "patch_toon.progress"


def short_training(seed: int, prefix: str) -> dict:
    graph = training_graph(seconds=0.0, steps=3, prefix=prefix)
    graph["4"]["inputs"]["seed"] = seed  # a seed of its own: ComfyUI would reuse another test's model
    return graph


def connected(comfy, name: str) -> WebSocketClient:
    client = WebSocketClient(comfy.base_url, f"{name}-{uuid.uuid4().hex}")
    client.wait_for("status")  # the server greets each page with the queue status once it registered it
    return client


def test_training_progress_goes_only_to_the_page_that_queued_the_prompt(comfy):
    with connected(comfy, "queuer") as queuer, connected(comfy, "bystander") as bystander:
        comfy.wait(comfy.queue(short_training(11, "own_page"), client_id=queuer.client_id), timeout=120)
        time.sleep(1.0)  # events sent to the bystander, if any, arrive well within this
        mine, theirs = queuer.events(EVENT), bystander.events(EVENT)

    assert mine and mine[-1]["done"] and mine[-1]["node"] == "4"
    assert theirs == []


def test_training_progress_of_a_prompt_without_a_client_id_goes_to_every_page(comfy):
    with connected(comfy, "first") as first, connected(comfy, "second") as second:
        comfy.wait(comfy.queue(short_training(12, "no_page"), client_id=None), timeout=120)
        time.sleep(1.0)
        events = [first.events(EVENT), second.events(EVENT)]

    assert all(received and received[-1]["done"] for received in events)


def test_a_page_that_turned_thumbnails_off_gets_its_progress_without_any_image(comfy):
    with connected(comfy, "plain") as plain, connected(comfy, "quiet") as quiet:
        told = comfy._json("POST", "/patch_toon/monitor", {"client_id": quiet.client_id, "thumbnails": False})
        comfy.wait(comfy.queue(short_training(13, "quiet_page"), client_id=quiet.client_id), timeout=120)
        comfy.wait(comfy.queue(short_training(14, "plain_page"), client_id=plain.client_id), timeout=120)
        time.sleep(1.0)
        quiet_events, plain_events = quiet.events(EVENT), plain.events(EVENT)
        quiet_binary, plain_binary = quiet.binary_count, plain.binary_count  # ComfyUI's own node preview
        comfy._json("POST", "/patch_toon/monitor", {"client_id": quiet.client_id, "thumbnails": True})

    assert told == {"client_id": quiet.client_id, "thumbnails": False}
    assert quiet_events and quiet_events[-1]["done"]
    assert not any("preview" in e or "strip" in e for e in quiet_events) and quiet_binary == 0
    assert any("preview" in e for e in plain_events) and any("strip" in e for e in plain_events) and plain_binary > 0


@pytest.mark.parametrize("body", [
    {"client_id": "abc"},  # no setting
    {"client_id": "abc", "thumbnails": "no"},  # not a boolean
    {"client_id": "../x", "thumbnails": False},  # not an id
    {"client_id": 5, "thumbnails": False},
    {"client_id": "abc", "thumbnails": False, "extra": 1},
    ["abc", False],
])
def test_the_monitor_settings_route_refuses_anything_but_a_page_id_and_a_boolean(comfy, body):
    with pytest.raises(urllib.error.HTTPError) as refused:
        comfy._json("POST", "/patch_toon/monitor", body)

    assert refused.value.code == 400
    assert "expected" in refused.value.read().decode()
