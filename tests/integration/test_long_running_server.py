"""A ComfyUI server that trains again and again stays healthy (a few runs here; benchmarks/soak.py runs 30)."""

import pytest

from comfy_host import ComfyServer, setup_host
from comfy_host.soak import files_left, soak

RUNS = 6  # two normal, two ended by Finish now, two cancelled
GROWTH_MB = 100


@pytest.fixture(scope="module")
def soaked():
    setup_host.ensure()
    server = ComfyServer()  # a fresh server: its first fixed-seed run is the fresh server's result
    server.start()
    try:
        yield server, soak(server, RUNS)
    finally:
        server.cleanup()


def test_every_run_ends_as_asked(soaked):
    _, report = soaked
    for kind, outcome, node in report["outcomes"]:
        assert (outcome, node) == (("interrupted", "PatchToonTrain") if kind == "cancel" else ("success", None))


def test_runs_finished_early_say_so_and_the_others_do_not(soaked):
    from patch_training.model.checkpoint import read_metadata

    server, report = soaked
    runs = report["entries"][2:-1]
    for (kind, outcome, _), entry in zip(report["outcomes"], runs):
        if outcome == "success":
            (name,) = [n for out in entry["outputs"].values() for n in out.get("patch_model", [])]
            summary = read_metadata(server.root / "models" / "patch_toon" / name)["summary"]
            assert summary["stopped_early"] == (kind == "finish")


def test_the_server_memory_stays_flat(soaked):
    _, report = soaked
    growth = (report["rss_after"] - report["rss_after_warmup"]) / 2**20
    assert growth < GROWTH_MB, f"the server grew by {growth:.0f} MB over {RUNS} runs"


def test_no_file_is_left_but_the_runs_outputs(soaked):
    server, report = soaked
    assert files_left(server, report["entries"]) == []


def test_a_fixed_seed_run_after_the_others_equals_the_fresh_servers(soaked):
    _, report = soaked
    assert report["same_as_fresh"]
