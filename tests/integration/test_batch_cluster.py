"""The batch job on a real 2-node Ray cluster (two loopback addresses of this machine, one CPU each): the same
models and frames as `train` + `stylize` on one machine, also when a worker process is killed mid-stylization
(Ray runs its task again); and the cluster's processes all end."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from batch_support import assert_same_as_reference, killing_a_segment_worker, make_project, reference
from ray_support import new_marker_dir, ray_env, start_cluster, still_running, stop_ray

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("ray")  # on the worker that runs test_batch.py's local Ray, one after the other


def run_batch(manifest: Path, address: str, env: dict, *options) -> tuple[subprocess.CompletedProcess, dict]:
    result = subprocess.run([sys.executable, "-m", "patch_training", "batch", str(manifest), "--ray", address,
                             "--node-ip", "127.0.0.2", *map(str, options)], cwd=REPO, capture_output=True,
                            text=True, env=env, timeout=600)
    assert result.stdout, result.stderr
    return result, json.loads(result.stdout)


def test_a_two_node_cluster_makes_the_same_frames_even_when_a_worker_dies(tmp_path):
    manifest = make_project(tmp_path, frames=24, bad=False)
    ref = reference(tmp_path, manifest)
    marker = new_marker_dir()
    try:
        address = start_cluster(marker)
        env = ray_env(marker)
        result, summary = run_batch(manifest, address, env, "--segment-frames", 6)
        assert result.returncode == 0, result.stderr
        assert summary["done"] == ["guided", "rgb"] and summary["frames_written"] == 44
        assert_same_as_reference(tmp_path / "out", ref)

        # Again into new folders, killing a worker process while it stylizes a segment.
        data = json.loads(manifest.read_text())
        for shot in data["shots"]:
            shot["out"] = shot["out"].replace("out/", "again/")
        manifest.write_text(json.dumps(data))
        for name in ("guided", "rgb"):  # the same models: only stylization runs, on both nodes
            (tmp_path / "again").mkdir(exist_ok=True)
            (tmp_path / "again" / f"{name}.safetensors").write_bytes((tmp_path / "out" / f"{name}.safetensors")
                                                                     .read_bytes())
        with killing_a_segment_worker(tmp_path / "pids", manifest):
            result, summary = run_batch(manifest, address, env, "--segment-frames", 3, "--pid-folder",
                                        tmp_path / "pids")
        assert result.returncode == 0, result.stderr
        assert summary["done"] == ["guided", "rgb"] and summary["failed"] == []
        assert summary["frames_written"] == 44  # every frame exactly once (the killed segment's were redone whole)
        assert_same_as_reference(tmp_path / "again", ref)
    finally:
        assert not still_running(stop_ray(marker)), "Ray processes survived the teardown"
