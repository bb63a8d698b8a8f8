"""A long-running server stays healthy: the sample training workflow queued again and again with new seeds,
every third run cancelled during training, others ended by "Finish now"; then the server's memory growth,
the files it left, and a fixed-seed run compared with the same run on the fresh server.

Used by tests/integration/test_long_running_server.py (a few runs) and benchmarks/soak.py (30 runs).
"""

from __future__ import annotations

import json
import time
import urllib.error
from pathlib import Path

from .server import ComfyServer, PromptFailed, output_files
from .setup_host import REPO
from .workflow import ui_to_api

WORKFLOW = REPO / "example_workflows" / "train_and_stylize_sample.json"
LONG = 600.0  # the budget of runs that end by Cancel or Finish now


def sample_prompt(server: ComfyServer) -> tuple[dict, str]:
    """Workflow 1 as an API prompt with the fastest lossless WEBP, and the id of its training node."""
    workflow = json.loads(WORKFLOW.read_text())
    prompt = ui_to_api(workflow, server.object_info())
    for node in prompt.values():
        if node["class_type"] == "SaveAnimatedWEBP":
            node["inputs"]["method"] = "fastest"
    (train,) = [node_id for node_id, node in prompt.items() if node["class_type"] == "PatchToonTrain"]
    return prompt, train


def resident_bytes(pid: int) -> int:
    """VmRSS of process `pid` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise KeyError("VmRSS")


def soak(server: ComfyServer, runs: int, seconds: float = 2.5, log=lambda message: None) -> dict:
    """Runs the sample workflow `runs` times (plus a warm-up and a fixed-seed run before and after).

    Run i: seed 1000 + i; i % 3 == 2 is cancelled (POST /interrupt) during training, i % 3 == 1 is ended by
    POST /patch_toon/finish, the others train for `seconds`. Returns a report: outcomes, rss_after_warmup,
    rss_after, the history entries of every run, and whether the fixed-seed runs gave the same animation.
    """
    prompt, train = sample_prompt(server)

    def with_budget(seed: int, seconds_: float, steps: int = 0) -> dict:
        edited = json.loads(json.dumps(prompt))
        edited[train]["inputs"].update(seed=seed, seconds=seconds_, steps=steps)
        return edited

    fixed = with_budget(7, 0.0, 20)
    entries = [server.run(fixed, timeout=300)]  # also the warm-up: every cached node computed once
    reference = _animation(server, entries[0])
    entries.append(server.run(with_budget(999, seconds), timeout=300))
    rss_after_warmup = resident_bytes(server.process.pid)
    outcomes = []
    for i in range(runs):
        kind = ("normal", "finish", "cancel")[i % 3]
        prompt_id = server.queue(with_budget(1000 + i, seconds if kind == "normal" else LONG))
        if kind == "cancel":
            _wait_running(server, prompt_id)
            time.sleep(0.5)  # the upstream nodes are cached: the prompt is training by now
            server.interrupt(prompt_id)
        elif kind == "finish":
            _finish(server, prompt_id, train)
        try:
            entries.append(server.wait(prompt_id, timeout=300))
            outcomes.append((kind, "success", None))
        except PromptFailed as failure:
            entries.append(failure.entry)
            outcomes.append((kind, "interrupted" if failure.interrupted else "failed", failure.node_type))
        log(f"run {i + 1}/{runs}: {kind} -> {outcomes[-1][1]}, server RSS "
            f"{resident_bytes(server.process.pid) / 2**20:.0f} MB")
    rss_after = resident_bytes(server.process.pid)
    entries.append(server.run(fixed, timeout=300))
    return {"outcomes": outcomes, "rss_after_warmup": rss_after_warmup, "rss_after": rss_after,
            "entries": entries, "same_as_fresh": _animation(server, entries[-1]) == reference}


def _animation(server: ComfyServer, entry: dict) -> bytes:
    (webp,) = [f for f in output_files(entry) if f["filename"].endswith(".webp")]
    return server.get_file(**webp)


def _wait_running(server: ComfyServer, prompt_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while prompt_id not in server.running_prompt_ids():
        if time.monotonic() > deadline:
            raise TimeoutError(f"prompt {prompt_id} did not start within {timeout} s")
        time.sleep(0.05)


def _finish(server: ComfyServer, prompt_id: str, node: str, timeout: float = 60) -> None:
    """Presses Finish now once the node trains (the route answers 400 until then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            server._request("POST", "/patch_toon/finish", {"node": node})
            return
        except urllib.error.HTTPError as err:
            if err.code != 400:
                raise
        time.sleep(0.1)
    raise TimeoutError(f"node {node} of prompt {prompt_id} never took Finish now")


def files_left(server: ComfyServer, entries: list[dict]) -> list[str]:
    """Files in the server's output, temp and models/patch_toon folders that no run reported as its output
    (a model saved by Save Patch Model counts), as paths relative to the server's folder."""
    reported = set()
    for entry in entries:
        for item in output_files(entry):
            folder = {"output": server.output_dir, "temp": server.temp_dir}[item["type"]]
            reported.add(folder / item["subfolder"] / item["filename"])
        for node_output in entry.get("outputs", {}).values():
            for name in node_output.get("patch_model", []):
                reported.add(server.root / "models" / "patch_toon" / name)
    found = [p for folder in (server.output_dir, server.temp_dir, server.root / "models" / "patch_toon")
             if folder.exists() for p in folder.rglob("*") if p.is_file()]
    return sorted(str(p.relative_to(server.workdir)) for p in found if p not in reported)
