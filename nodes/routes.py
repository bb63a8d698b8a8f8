"""Server routes of the web extension: "Finish now" requests and the pack's example workflows.

Registered on ComfyUI's PromptServer when this module is imported (the pack's __init__ imports it):

- POST /patch_toon/finish  {"node": "<id>"}: asks the training node with that id to stop at its
  next step and return the model trained so far (the graph then goes on, unlike an interrupt).
- GET /patch_toon/workflows: [{"name", "title", "description", "nodes"}] for every example workflow.
- GET /patch_toon/workflows/{name}: that workflow's JSON, as saved by ComfyUI's page.

Today's ComfyUI also serves every route under /api (the Vue frontend's api.fetchApi adds it).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path

from aiohttp import web
from server import PromptServer

log = logging.getLogger(__name__)

PACK_DIR = Path(__file__).resolve().parents[1]
# The design names the folder examples_workflows/; example_workflows/ is the name today's ComfyUI
# scans for its Templates dialog. Either is served, so a rename needs no change here.
EXAMPLE_DIRS = ("examples_workflows", "example_workflows")
# A workflow name is a file stem: no separators, no dots, so no way out of the folder.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,99}$")
NOTE_TYPES = ("Note", "MarkdownNote")

# ------------------------------------------------------------------ finish requests
# Written by the route (the server's event loop thread), read by the training node (the
# execution thread): a lock keeps the check-and-clear pair consistent.
_finish_lock = threading.Lock()
_finish_requested: set[str] = set()


def request_finish(node_id: str) -> None:
    """Marks the training node `node_id` to finish at its next step."""
    with _finish_lock:
        _finish_requested.add(str(node_id))


def finish_requested(node_id: str) -> bool:
    """True once "Finish now" was pressed for `node_id` (until clear_finish)."""
    with _finish_lock:
        return str(node_id) in _finish_requested


def clear_finish(node_id: str) -> None:
    """Forgets a finish request: the training node calls it before it starts training."""
    with _finish_lock:
        _finish_requested.discard(str(node_id))


# ------------------------------------------------------------------ example workflows


def example_workflow_files() -> dict[str, Path]:
    """Name (file stem) -> path of every example workflow (*.json) the pack ships."""
    files: dict[str, Path] = {}
    for folder in EXAMPLE_DIRS:
        directory = PACK_DIR / folder
        if directory.is_dir():
            for path in sorted(directory.glob("*.json")):
                if NAME_PATTERN.match(path.stem):
                    files.setdefault(path.stem, path)
    return files


def describe_workflow(name: str, workflow: dict) -> dict:
    """What the menu shows: a title from the file name, the first line of its first note."""
    nodes = workflow.get("nodes") if isinstance(workflow, dict) else None
    nodes = nodes if isinstance(nodes, list) else []
    description = ""
    for node in nodes:
        if isinstance(node, dict) and node.get("type") in NOTE_TYPES and node.get("widgets_values"):
            text = str(node["widgets_values"][0]).strip()
            description = text.splitlines()[0].strip() if text else ""
            break
    title = name.replace("_", " ").replace("-", " ").strip()
    return {"name": name, "title": title[:1].upper() + title[1:], "description": description,
            "nodes": len(nodes)}


def read_workflow(name: str) -> dict | None:
    """The example workflow `name` (a file stem), or None when the pack has no such workflow."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return None
    path = example_workflow_files().get(name)
    if path is None:
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def list_workflows() -> list[dict]:
    """describe_workflow() of every example workflow, skipping (and logging) unreadable files."""
    listing = []
    for name, path in example_workflow_files().items():
        try:
            workflow = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            log.warning("patch-toon: example workflow %s is not readable JSON: %s", path, err)
            continue
        listing.append(describe_workflow(name, workflow))
    return listing


# ------------------------------------------------------------------ routes

routes = PromptServer.instance.routes


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@routes.post("/patch_toon/finish")
async def finish_training(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, 'expected a JSON body {"node": "<training node id>"}')
    node = body.get("node") if isinstance(body, dict) else None
    if isinstance(node, bool) or not isinstance(node, (str, int)) or str(node).strip() == "":
        return _error(400, f'"node": expected the id of a Train Patch Model node, received {node!r}')
    request_finish(str(node))
    return web.json_response({"node": str(node), "finish_requested": True})


@routes.get("/patch_toon/workflows")
async def get_workflows(request: web.Request) -> web.Response:
    return web.json_response(list_workflows())


@routes.get("/patch_toon/workflows/{name}")
async def get_workflow(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    name = name[:-5] if name.endswith(".json") else name
    try:
        workflow = read_workflow(name)
    except (OSError, ValueError) as err:
        return _error(500, f"example workflow {name!r} is not readable JSON: {err}")
    if workflow is None:
        return _error(404, f"no example workflow named {name!r}; GET /patch_toon/workflows lists them")
    return web.json_response(workflow)
