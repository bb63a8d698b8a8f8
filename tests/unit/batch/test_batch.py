"""The batch job (`batch MANIFEST`): every good shot as `train` + `stylize` would make it on one machine, a shot with
bad inputs failing alone with its name, on local worker processes or a local Ray; stopped, it resumes."""
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batch_support import assert_same_as_reference, killing_a_segment_worker, make_project, reference
from patch_training.batch.manifest import read_manifest
from patch_training.errors import ConfigError
from support import REPO, interruptible
from ray_support import new_marker_dir, ray_env, ray_processes, still_running, stop_ray


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    manifest = make_project(root)
    return manifest, reference(root, manifest)


def batch(manifest: Path, *options, env=None, timeout=600):
    result = subprocess.run([sys.executable, "-m", "patch_training", "batch", str(manifest), *map(str, options)],
                            cwd=REPO, capture_output=True, text=True, env=env, timeout=timeout)
    assert result.stdout, result.stderr
    return result, json.loads(result.stdout)


def copy_project(manifest: Path, tmp_path: Path) -> Path:
    """The project's inputs and manifest in a fresh folder (no outputs)."""
    import shutil

    for folder in ("clips", "keys"):
        shutil.copytree(manifest.parent / folder, tmp_path / folder)
    shutil.copy(manifest, tmp_path / "manifest.json")
    return tmp_path / "manifest.json"


def check_summary(result, summary, manifest):
    assert result.returncode == 1, result.stderr  # a shot failed: said by the exit status too
    assert summary["done"] == ["guided", "rgb"] and summary["skipped"] == []
    failed = {f["name"]: f["error"] for f in summary["failed"]}
    assert set(failed) == {"broken", "badvideo"}
    assert failed["broken"].startswith("shot 'broken': keyframes:") and str(manifest.parent / "keys" / "missing") in \
        failed["broken"]
    assert failed["badvideo"].startswith("shot 'badvideo': ") and "bad.mp4" in failed["badvideo"]
    assert summary["frames_written"] == 24 + 20
    # Where each shot's time went, from its workers: every task kind it ran, wall and CPU seconds.
    times = {s["name"]: s["task_seconds"] for s in summary["per_shot"]}
    assert {"train", "plan", "segment"} <= set(times["guided"]) and times["guided"]["train"][1] > 0
    assert all(wall >= 0 and cpu >= 0 for shot in times.values() for wall, cpu in shot.values())
    # Progress on stderr: a line per finished shot, one bar with frames/s.
    assert "shot guided: done" in result.stderr and "shot broken: failed" in result.stderr
    assert "frames/s" in result.stderr and "ETA" in result.stderr


@pytest.mark.slow
def test_local_workers_make_what_train_and_stylize_make_and_a_bad_shot_fails_alone(project, tmp_path):
    manifest = copy_project(project[0], tmp_path)
    result, summary = batch(manifest, "--workers", 2, "--segment-frames", 5)
    check_summary(result, summary, manifest)
    assert_same_as_reference(tmp_path / "out", project[1])


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # never beside the cluster test (make test runs two pytest workers)
def test_local_ray_makes_the_same_frames_and_stops_its_processes(project, tmp_path):
    manifest = copy_project(project[0], tmp_path)
    marker = new_marker_dir()
    try:
        result, summary = batch(manifest, "--ray", "local", "--workers", 2, "--segment-frames", 5,
                                env=ray_env(marker))
        check_summary(result, summary, manifest)
        assert_same_as_reference(tmp_path / "out", project[1])
        deadline = time.monotonic() + 15
        while ray_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not ray_processes(marker), "the job left Ray processes running"
    finally:
        assert not still_running(stop_ray(marker))


@pytest.mark.slow
def test_a_local_worker_killed_mid_segment_is_replaced_and_its_segment_run_again(project, tmp_path):
    manifest = copy_project(project[0], tmp_path)
    data = json.loads(manifest.read_text())
    data["shots"] = data["shots"][:2]
    manifest.write_text(json.dumps(data))
    with killing_a_segment_worker(tmp_path / "pids", manifest):
        result, summary = batch(manifest, "--workers", 2, "--segment-frames", 3, "--pid-folder", tmp_path / "pids")
    assert result.returncode == 0, result.stderr
    assert summary["done"] == ["guided", "rgb"] and summary["failed"] == []
    # Every frame once: the killed worker's segment (caught before its frames were all in place) and the other
    # worker's, which the broken pool lost too, were run again whole; unless the other worker had already moved
    # its frames into place, and its rerun found them there (skipped).
    assert summary["frames_written"] + summary["frames_skipped"] == 44 and summary["frames_skipped"] <= 3
    assert_same_as_reference(tmp_path / "out", project[1])


@pytest.mark.slow
def test_a_stopped_job_resumes_with_only_the_rest_and_a_finished_one_is_skipped(project, tmp_path):
    manifest = copy_project(project[0], tmp_path)
    data = json.loads(manifest.read_text())
    data["shots"] = data["shots"][:2]
    manifest.write_text(json.dumps(data))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "patch_training", "batch", str(manifest), "--segment-frames", 2]
    proc = subprocess.Popen(list(map(str, args)), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    deadline = time.monotonic() + 300
    while len(list((out / "guided").glob("*.png"))) < 6 if (out / "guided").is_dir() else True:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/*.png")}
    assert 6 <= len(before) < 44
    assert not list(out.glob(".*.partial*")), "an interrupted segment left its staging folder"

    result, summary = batch(manifest, "--segment-frames", 2)
    assert result.returncode == 0, result.stderr
    assert [s["trained"] for s in summary["per_shot"]] == [False, False]  # both models were finished: reused
    assert summary["frames_skipped"] >= len(before) and summary["frames_written"] + summary["frames_skipped"] == 44
    assert summary["frames_written"] < 44
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # finished frames were not written again
    assert_same_as_reference(out, project[1])

    result, summary = batch(manifest)
    assert result.returncode == 0 and summary["skipped"] == ["guided", "rgb"] and summary["frames_written"] == 0


@pytest.mark.slow
def test_an_out_folder_holding_other_files_is_refused_and_left_alone(project, tmp_path):
    manifest = copy_project(project[0], tmp_path)
    data = json.loads(manifest.read_text())
    data["shots"] = data["shots"][1:2]
    manifest.write_text(json.dumps(data))
    (tmp_path / "out" / "rgb").mkdir(parents=True)
    (tmp_path / "out" / "rgb" / "mine.png").write_bytes(b"user data")
    result, summary = batch(manifest)
    assert result.returncode == 1 and "is not an empty folder" in summary["failed"][0]["error"]
    assert [p.name for p in (tmp_path / "out" / "rgb").iterdir()] == ["mine.png"]
    assert (tmp_path / "out" / "rgb" / "mine.png").read_bytes() == b"user data"


@pytest.mark.parametrize("entry,words", [
    ({"name": "a", "frames": "f", "keyframes": "k", "out": "o", "step": 3}, "unknown keys ['step']"),
    ({"name": "a", "frames": "f", "out": "o"}, "missing ['keyframes (or model)']"),
    ({"name": "a", "frames": "f", "keyframes": "k", "out": "o.mp4"}, "out must be a folder"),
    ({"name": "a", "frames": "f", "keyframes": "k", "out": "o", "preset": "huge"}, "shot 'a'"),
    ({"name": "a", "frames": "f", "keyframes": "k", "out": "o", "patch_size": 8},
     "shot 'a': patch_size: expected at least 16 pixels, received 8"),
    ({"name": "a", "frames": "f", "keyframes": "k", "out": "o", "base": "paper"}, "shot 'a': base: expected"),
])
def test_a_bad_manifest_is_refused_with_the_shot_and_key_named(tmp_path, entry, words):
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"shots": [entry]}))
    with pytest.raises(ConfigError, match=re.escape(words)):
        read_manifest(manifest)


def test_relative_paths_are_read_from_the_manifest_folder(tmp_path):
    manifest = tmp_path / "sub" / "m.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"defaults": {"steps": 5}, "shots": [
        {"name": "a", "frames": "clips/a", "keyframes": "keys/a", "out": "out/a"}]}))
    shot, = read_manifest(manifest)
    assert shot.frames == str(tmp_path / "sub" / "clips" / "a") and shot.train.steps == 5
    assert shot.model_path == tmp_path / "sub" / "out" / "a.safetensors"
    manifest.write_text(json.dumps({"defaults": {"patch_size": 32, "base": "colour"}, "shots": [
        {"name": "a", "frames": "clips/a", "keyframes": "keys/a", "out": "out/a"}]}))
    config = read_manifest(manifest)[0].train.config()
    assert (config.patch_size, config.base, config.prior) == (32, "colour", "auto")
    manifest.write_text(json.dumps({"defaults": {"prior": "priors/mine.safetensors"}, "shots": [
        {"name": "a", "frames": "clips/a", "keyframes": "keys/a", "out": "out/a"},
        {"name": "b", "frames": "clips/b", "keyframes": "keys/b", "out": "out/b", "prior": "none"}]}))
    a, b = (shot.train.config().prior for shot in read_manifest(manifest))
    assert (a, b) == (str(tmp_path / "sub" / "priors" / "mine.safetensors"), "none")


def test_the_example_manifest_reads_and_names_inputs_that_exist():
    shots = read_manifest(REPO / "examples_batch" / "manifest.json")
    assert [s.name for s in shots] == ["sample", "sample_rgb", "sample_style"]
    for shot in shots:
        assert Path(shot.frames).is_dir() and (shot.model is None or Path(shot.model).is_file())
        assert shot.keyframes is None or Path(shot.keyframes).is_dir()
        assert Path(shot.out).parent == REPO / "output" / "batch"  # output/ is ignored by git


@pytest.mark.slow
def test_ray_is_imported_by_cluster_py_alone():
    importers = [str(p.relative_to(REPO)) for folder in ("patch_training", "nodes") for p in (REPO / folder).rglob("*.py")
                 if re.search(r"^\s*(import ray|from ray)", p.read_text(), re.M)]
    assert importers == ["patch_training/batch/cluster.py"]
    code = ("import sys, patch_training.batch.run, patch_training.cli, patch_training.batch.manifest; "
            "print('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True).stdout == "False\n"
