"""Browser tests: the web extension in a real ComfyUI page (March 2024, legacy frontend).

Playwright drives Debian's Chromium (/usr/bin/chromium, headless, a fresh profile); both are set up
by tests/browser/setup_browser.sh, which `make test` runs first. One ComfyUI server serves the
whole session. Screenshots of each step go to output/screenshots/ (git-ignored).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))  # tests/, for the comfy_host package

from comfy_host import ComfyServer, setup_host  # noqa: E402  (tests/ is on sys.path)

REPO = setup_host.REPO
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = REPO / "output" / "screenshots"
EXTENSIONS = ("patch_toon.TrainingMonitor", "patch_toon.ExampleWorkflows", "patch_toon.NodeMessages",
              "patch_toon.FixedSeeds", "patch_toon.VideoPreview", "patch_toon.LivePanel")
OUR_SCRIPTS = re.compile(r"/extensions/patch-toon/|patch[-_]toon", re.IGNORECASE)
SETUP_HINT = "run tests/browser/setup_browser.sh (as `make test` does)"


@pytest.fixture(scope="session")
def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the browser tests need playwright (requirements-browser.txt): {SETUP_HINT}", pytrace=False)
    if not CHROMIUM.exists():
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM}: {SETUP_HINT}", pytrace=False)
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="session")
def web_comfy():
    """A ComfyUI server for the browser tests (the integration tests have their own)."""
    setup_host.ensure()
    server = ComfyServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def browser(playwright, tmp_path_factory):
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
        args=CHROMIUM_ARGS, viewport=VIEWPORT, device_scale_factor=1)
    try:
        yield context
    finally:
        context.close()


class ComfyPage:
    """ComfyUI's page in Chromium, plus what the tests need to read from it."""

    def __init__(self, page, server: ComfyServer, name: str):
        self.page = page
        self.server = server
        self.name = name
        self.errors: list[str] = []  # uncaught exceptions, and console errors from our scripts
        self.failed_scripts: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("console", self._on_console)
        page.on("response", self._on_response)

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if OUR_SCRIPTS.search(where) or OUR_SCRIPTS.search(message.text):
            self.errors.append(f"console: {message.text} ({where})")

    def _on_response(self, response) -> None:
        if "/extensions/patch-toon/" in response.url and response.status >= 400:
            self.failed_scripts.append(f"{response.url}: HTTP {response.status}")

    def open(self) -> "ComfyPage":
        self.page.goto(self.server.base_url + "/")
        names = json.dumps(EXTENSIONS)
        self.page.wait_for_function(
            f"() => window.app?.graph && {names}.every(n => window.app.extensions?.some(e => e.name === n))",
            timeout=60_000)
        return self

    def js(self, expression: str, arg=None):
        return self.page.evaluate(expression, arg)

    def screenshot(self, step: str, **kwargs) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.name}-{step}.png"
        self.page.screenshot(path=str(path), **kwargs)
        return path

    def load_workflow(self, workflow: dict) -> None:
        self.js("async (w) => { await window.app.loadGraphData(w); }", workflow)

    def graph_nodes(self) -> list[dict]:
        """[{id, type, widgets: {name: value}}] of the nodes in the canvas."""
        return self.js("""() => window.app.graph._nodes.map(n => ({
            id: n.id, type: n.type,
            widgets: Object.fromEntries((n.widgets || []).filter(w => w.name).map(w => [w.name, w.value ?? null]))}))""")

    def set_widget(self, node_type: str, name: str, value) -> None:
        """Sets a widget's value on every node of that type, as typing it in would."""
        found = self.js("""([type, name, value]) => {
            let found = 0;
            for (const node of window.app.graph._nodes.filter(n => n.type === type)) {
                const widget = node.widgets?.find(w => w.name === name);
                if (!widget) continue;
                widget.value = value;
                widget.callback?.(value);
                found += 1;
            }
            window.app.graph.setDirtyCanvas(true, true);
            return found;
        }""", [node_type, name, value])
        assert found, f"no {node_type} node with a widget {name!r} in the canvas"

    def fit_to_view(self) -> None:
        """Zooms and pans the canvas so that every node is visible (for the screenshots)."""
        self.js("""() => {
            const canvas = window.app.canvas, nodes = window.app.graph._nodes;
            if (!nodes.length) return;
            const title = LiteGraph.NODE_TITLE_HEIGHT;
            let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
            for (const n of nodes) {
                x0 = Math.min(x0, n.pos[0]); y0 = Math.min(y0, n.pos[1] - title);
                x1 = Math.max(x1, n.pos[0] + n.size[0]); y1 = Math.max(y1, n.pos[1] + n.size[1]);
            }
            const el = canvas.canvas, margin = 40;
            const scale = Math.min(1, (el.clientWidth - 2 * margin - 220) / (x1 - x0), (el.clientHeight - 2 * margin) / (y1 - y0));
            canvas.ds.scale = scale;
            canvas.ds.offset = [margin / scale - x0, margin / scale - y0];
            canvas.setDirty(true, true);
        }""")
        self.page.wait_for_timeout(300)  # two frames: the DOM widgets follow the canvas when it draws

    def focus_node(self, node_type: str, scale: float = 1.0) -> None:
        """Zooms to `scale` with the first node of that type at the top left (for a cropped screenshot)."""
        self.js("""([type, scale]) => {
            const canvas = window.app.canvas, node = window.app.graph._nodes.find(n => n.type === type);
            canvas.ds.scale = scale;
            // Clear of the canvas info text at the bottom left.
            canvas.ds.offset = [240 / scale - node.pos[0], (40 + LiteGraph.NODE_TITLE_HEIGHT) / scale - node.pos[1]];
            canvas.setDirty(true, true);
        }""", [node_type, scale])
        self.page.wait_for_timeout(300)

    def node_clip(self, node_type: str, margin: int = 12) -> dict:
        """The page rectangle of the first node of that type (title included), for a cropped screenshot."""
        return self.js("""([type, margin]) => {
            const canvas = window.app.canvas, node = window.app.graph._nodes.find(n => n.type === type);
            const rect = canvas.canvas.getBoundingClientRect(), s = canvas.ds.scale, o = canvas.ds.offset;
            const x = (node.pos[0] + o[0]) * s + rect.left, y = (node.pos[1] - LiteGraph.NODE_TITLE_HEIGHT + o[1]) * s + rect.top;
            return {x: Math.max(0, x - margin), y: Math.max(0, y - margin),
                    width: node.size[0] * s + 2 * margin, height: (node.size[1] + LiteGraph.NODE_TITLE_HEIGHT) * s + 2 * margin};
        }""", [node_type, margin])

    def queue_from_page(self) -> str:
        """Clicks Queue Prompt as a user would; returns the prompt id the server answered."""
        with self.page.expect_response(
                lambda r: r.url.endswith("/prompt") and r.request.method == "POST", timeout=60_000) as answer:
            self.page.click("#queue-button")
        body = answer.value.json()
        assert answer.value.ok and "prompt_id" in body, f"POST /prompt answered {answer.value.status}: {body}"
        return body["prompt_id"]

    def wait_for(self, expression: str, arg=None, timeout: float = 120.0):
        """Waits until `expression` (a JS function) returns something truthy; returns it."""
        handle = self.page.wait_for_function(expression, arg=arg, timeout=timeout * 1000, polling=100)
        return handle.json_value()


def open_page(request, browser, server):
    """A ComfyPage on `server` for the test asking (a generator for a fixture: screenshot on failure, closed)."""
    page = browser.new_page()
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")
    wrapper = ComfyPage(page, server, name)
    try:
        yield wrapper.open()
    finally:
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            try:
                wrapper.screenshot("failed")
            except Exception:  # the page may be gone: the failure itself is what matters
                pass
        page.close()


# Whether an <img>'s mean distance from a colour, as the page shows it, fell under half `before`; false until the
# image has loaded. Arguments: [selector, [r, g, b], before].
CLOSER_TO_COLOUR = """([selector, target, before]) => {
    const img = document.querySelector(selector);
    if (!img || !img.complete || !img.naturalWidth) return false;
    const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += Math.abs(d[i] - target[0]) + Math.abs(d[i + 1] - target[1]) + Math.abs(d[i + 2] - target[2]);
    return sum / (d.length / 4) / 3 < 0.5 * before;
}"""


@pytest.fixture
def comfy_page(request, browser, web_comfy):
    yield from open_page(request, browser, web_comfy)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
    server = getattr(item, "funcargs", {}).get("web_comfy")
    if report.failed and hasattr(server, "log_tail"):
        report.sections.append(("ComfyUI server log", server.log_tail(80)))

