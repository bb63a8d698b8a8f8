"""Server routes of the web extension: "Finish now" requests and the pack's example workflows.

Registered on ComfyUI's PromptServer when this module is imported (the pack's __init__ imports it):

- POST /patch_toon/finish  {"node": "<id>"}: asks the training node with that id to stop at its
  next step and return the model trained so far (the graph then goes on, unlike an interrupt).
  Anything else (not JSON, over 1 KB, other keys, a node that is not training) is answered 400.
- POST /patch_toon/monitor  {"client_id": "<the page's websocket id>", "thumbnails": false}: that page's
  training monitor shows no images (its setting patch_toon.MonitorThumbnails), so training sends it none.
- GET /patch_toon/workflows: [{"name", "title", "description", "nodes"}] for every example workflow.
- GET /patch_toon/workflows/{name}: that workflow's JSON, as saved by ComfyUI's page.

Today's ComfyUI also serves every route under /api (the Vue frontend's api.fetchApi adds it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from pathlib import Path
from typing import Callable, Iterator

from aiohttp import web
from server import PromptServer

log = logging.getLogger(__name__)

PACK_DIR = Path(__file__).resolve().parents[1]
# example_workflows/: the folder name today's ComfyUI scans for its Templates dialog (its *.json, with a
# <name>.jpg thumbnail each). The pack's own menu lists the same files, for the 2024 page that has no Templates.
EXAMPLE_DIRS = ("example_workflows",)
# A workflow name is a file stem: no separators, no dots, so no way out of the folder.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,99}$")
NOTE_TYPES = ("Note", "MarkdownNote")
MAX_FINISH_BODY = 1024  # bytes: {"node": "<id>"} is a few dozen
# ComfyUI's node ids: "12", or "5:3" / "5.3" inside group nodes and subgraphs.
NODE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$")
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,100}$")  # a page's websocket id (uuid hex in ComfyUI)

# ------------------------------------------------------------------ finish requests
# Written by the route (the server's event loop thread), read by the training node (the
# execution thread): a lock keeps the check-and-set pairs consistent. A finish request names a
# node that is training now; any other id is refused, so that nothing is left behind for a later run.
_finish_lock = threading.Lock()
_training: set[str] = set()
_finish_requested: set[str] = set()


@contextlib.contextmanager
def training_session(node_id) -> Iterator[Callable[[], bool]]:
    """While the training node `node_id` trains: finish requests for it are taken. Yields should_stop()."""
    node = str(node_id)
    with _finish_lock:
        _training.add(node)
        _finish_requested.discard(node)
    try:
        yield lambda: finish_requested(node)
    finally:
        with _finish_lock:
            _training.discard(node)
            _finish_requested.discard(node)


def request_finish(node_id: str) -> bool:
    """Marks the training node `node_id` to finish at its next step; False when no such node is training."""
    with _finish_lock:
        if str(node_id) not in _training:
            return False
        _finish_requested.add(str(node_id))
        return True


def finish_requested(node_id: str) -> bool:
    """True once "Finish now" was pressed for `node_id` during its training session."""
    with _finish_lock:
        return str(node_id) in _finish_requested


# ------------------------------------------------------------------ monitor settings of each page
# The pages (websocket client ids) whose monitor shows no preview images: training skips encoding them.
# Written by the route, read by the training node's reporter (another thread): a set under a lock.
MAX_PAGES = 10_000  # a bound on what a page may make the server remember
_pages_lock = threading.Lock()
_pages_without_thumbnails: set[str] = set()


def thumbnails_wanted(client_id: str | None) -> bool:
    """False when the page `client_id` turned its monitor's thumbnails off; True for no page (a script)."""
    with _pages_lock:
        return client_id is None or str(client_id) not in _pages_without_thumbnails


def set_thumbnails(client_id: str, wanted: bool) -> bool:
    """Records a page's thumbnails setting; False when too many pages turned them off to remember another."""
    with _pages_lock:
        if wanted:
            _pages_without_thumbnails.discard(client_id)
        elif client_id not in _pages_without_thumbnails:
            if len(_pages_without_thumbnails) >= MAX_PAGES:
                return False
            _pages_without_thumbnails.add(client_id)
        return True


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
    usage = '{"node": "<id of a Train Patch Model node that is training>"}'
    body = await _bounded_body(request, MAX_FINISH_BODY)
    if body is None:
        return _error(400, f"expected a JSON body of at most {MAX_FINISH_BODY} bytes, {usage}")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return _error(400, f"expected a JSON body {usage}, received text that is not JSON")
    if not isinstance(data, dict) or set(data) != {"node"}:
        keys = sorted(map(str, data))[:5] if isinstance(data, dict) else type(data).__name__
        return _error(400, f"expected a JSON body {usage}, received {keys}")
    node = data["node"]
    if isinstance(node, bool) or not isinstance(node, (str, int)) or not NODE_ID_PATTERN.match(str(node)):
        return _error(400, f'"node": expected the id of a Train Patch Model node, received {repr(node)[:80]}')
    if not request_finish(str(node)):
        return _error(400, f'"node": no Train Patch Model node with id {str(node)!r} is training now; '
                           f"Finish now applies while training runs")
    return web.json_response({"node": str(node), "finish_requested": True})


@routes.post("/patch_toon/monitor")
async def monitor_settings(request: web.Request) -> web.Response:
    usage = '{"client_id": "<the page\'s websocket client id>", "thumbnails": true or false}'
    body = await _bounded_body(request, MAX_FINISH_BODY)
    try:
        data = None if body is None else json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or set(data) != {"client_id", "thumbnails"}:
        return _error(400, f"expected a JSON body of at most {MAX_FINISH_BODY} bytes, {usage}")
    client_id, wanted = data["client_id"], data["thumbnails"]
    if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.match(client_id):
        return _error(400, f'"client_id": expected the page\'s websocket client id, received {repr(client_id)[:80]}')
    if not isinstance(wanted, bool):
        return _error(400, f'"thumbnails": expected true or false, received {repr(wanted)[:80]}')
    if not set_thumbnails(client_id, wanted):
        return _error(503, f"{MAX_PAGES} pages turned thumbnails off already; restart the server to forget them")
    return web.json_response({"client_id": client_id, "thumbnails": wanted})


async def _bounded_body(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None when it is longer than `limit` bytes (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = b""
    while len(body) <= limit:
        chunk = await request.content.read(limit + 1 - len(body))
        if not chunk:
            return body
        body += chunk
    return None


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
