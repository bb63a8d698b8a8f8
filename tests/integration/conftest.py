"""Integration tests against a real ComfyUI (March 2024) with this repo as a custom node pack.

The session-scoped `comfy` fixture builds the host if needed (tests/comfy_host/setup_host.py:
~40 s the first time, instant after), starts one server for the whole session and stops it at
the end. A failing test that used it gets the tail of the server log in its report.
Threads of the server: env PATCH_TOON_COMFY_THREADS (default 1).
"""

import sys
from pathlib import Path

import pytest

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)  # tests/, for the comfy_host package

from comfy_host import ComfyServer, setup_host  # noqa: E402  (tests/ is on sys.path)


@pytest.fixture(scope="session")
def comfy():
    setup_host.ensure()
    server = ComfyServer(harness_nodes=True)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("comfy")
    if report.failed and hasattr(server, "log_tail"):
        report.sections.append(("ComfyUI server log", server.log_tail(80)))
