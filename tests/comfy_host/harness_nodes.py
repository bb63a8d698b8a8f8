"""Test-only additions to the server: a failing node, an interruptible wait, a route that
shows what a custom node pack exported once ComfyUI imported it.

ComfyServer(harness_nodes=True) copies this file into its private ComfyUI's custom_nodes. It
runs inside the server's Python, so it may import comfy and server; it is never part of the pack.
"""

import sys
import time

import comfy.model_management
from aiohttp import web
from server import PromptServer

CATEGORY = "_test_harness"


class HarnessFail:
    """Raises ValueError(message): lets tests see how an execution error is reported."""

    CATEGORY, FUNCTION, OUTPUT_NODE = CATEGORY, "fail", True
    RETURN_TYPES = ()

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"message": ("STRING", {"default": "harness failure"})}}

    def fail(self, message):
        raise ValueError(message)


class HarnessWait:
    """Waits `seconds`, checking ComfyUI's interrupt flag every 50 ms like a training loop would."""

    CATEGORY, FUNCTION, OUTPUT_NODE = CATEGORY, "wait", True
    RETURN_TYPES = ()

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seconds": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 600.0})}}

    @classmethod
    def IS_CHANGED(cls, seconds):
        return float("nan")  # never cached: every run waits

    def wait(self, seconds):
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            comfy.model_management.throw_exception_if_processing_interrupted()
            time.sleep(0.05)
        return {"ui": {"waited": [time.monotonic() - start]}}


NODE_CLASS_MAPPINGS = {"HarnessFail": HarnessFail, "HarnessWait": HarnessWait}


@PromptServer.instance.routes.get("/comfy_host/custom_node_module")
async def custom_node_module(request):
    """What the custom node module ?name=... exported, as ComfyUI imported it (404 if it did not)."""
    module = sys.modules.get(request.query.get("name", ""))
    if module is None:
        return web.json_response({"error": "not imported"}, status=404)
    mappings = getattr(module, "NODE_CLASS_MAPPINGS", None)
    return web.json_response({
        "file": getattr(module, "__file__", None),
        "NODE_CLASS_MAPPINGS": None if mappings is None else sorted(mappings),
        "NODE_DISPLAY_NAME_MAPPINGS": getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", None),
        "WEB_DIRECTORY": getattr(module, "WEB_DIRECTORY", None),
        # What newer servers send in /object_info as `search_aliases` (the 2024 server does not read it).
        "SEARCH_ALIASES": None if mappings is None else {
            name: getattr(cls, "SEARCH_ALIASES", []) for name, cls in mappings.items()},
    })
