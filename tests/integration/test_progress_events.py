"""Training progress events on a real ComfyUI server: to the page that queued the prompt, not to every page."""

import time
import uuid

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
