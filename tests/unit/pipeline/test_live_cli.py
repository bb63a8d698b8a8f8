"""`patch-toon live` as a user runs it: a real process trains while keyframes are saved over (half-written too),
added and removed in its folder, and its strip and status.json follow."""
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from patch_training.model.checkpoint import load_model

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "example_workflows" / "assets" / "sample"
SIZE = 96
WAIT_S = 90  # what each wait allows a loaded machine: the test checks what happens, never how fast


def _small(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.array(im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BOX))


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture()
def clip(tmp_path):
    """The bundled sample's frames 0, 3, ..., 30 at 96x96 (11 frames) and a keyframe folder holding frame 0's."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for n, i in enumerate(range(0, 31, 3)):
        Image.fromarray(_small(SAMPLE / "frames" / f"{i:05d}.jpg")).save(frames / f"{n:05d}.png")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "00000.png").write_bytes(_png(_small(SAMPLE / "keyframes" / "00000.png")))
    return frames, keys


def _status(out: Path) -> dict | None:
    try:
        return json.loads((out / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _wait(proc, what: str, predicate):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"live exited ({proc.returncode}) while waiting for {what}:\n{proc.stderr.read()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _keys(out: Path) -> dict[str, str]:
    status = _status(out) or {}
    return {k["name"]: k["sha256"] for k in status.get("keyframes", [])}


def _strip_mean(out: Path) -> np.ndarray:
    images = []
    for path in sorted((out / "strip").glob("*.png")):
        with Image.open(path) as im:
            images.append(np.asarray(im.convert("RGB"), np.float32) / 255)
    return np.mean(images, axis=(0, 1, 2))


def test_live_follows_keyframes_saved_over_half_written_added_and_removed(clip, tmp_path):
    frames, keys = clip
    out, model = tmp_path / "preview", tmp_path / "live.safetensors"
    proc = subprocess.Popen([sys.executable, "-m", "patch_training", "live", "--frames", str(frames), "--keyframes",
                             str(keys), "--preview", str(out), "--save", str(model), "--strip", "3", "--threads", "1",
                             "--refresh", "0.2", "--max-share", "0.5"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        first = hashlib.sha256((keys / "00000.png").read_bytes()).hexdigest()
        _wait(proc, "the first status", lambda: _keys(out) == {"00000.png": first})
        status = _status(out)
        assert status["strip_frames"] == [0, 5, 10]
        assert sorted(p.name for p in (out / "strip").iterdir()) == ["00000.png", "00005.png", "00010.png"]
        assert not [p for p in out.iterdir() if p.name.startswith(".")]  # temporary files renamed into place
        _wait(proc, "steps to grow", lambda: (_status(out) or {}).get("steps", 0) > status["steps"])

        # Added: the last frame's keyframe.
        (keys / "00010.png").write_bytes(_png(_small(SAMPLE / "keyframes" / "00031.png")))
        _wait(proc, "the added keyframe", lambda: "00010.png" in _keys(out))

        # Saved over in place, in two writes with a pause: both keyframes become flat red.
        red = np.zeros((SIZE, SIZE, 3), np.uint8)
        red[..., 0] = 230
        data = _png(red)
        before = _strip_mean(out)
        with open(keys / "00000.png", "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
            time.sleep(1.5)  # several polls see the half file, unchanged
            assert _keys(out)["00000.png"] == first  # the half file was not taken
            f.write(data[len(data) // 2:])
        (keys / "00010.png").write_bytes(data)
        new = hashlib.sha256(data).hexdigest()
        _wait(proc, "both keyframes saved over", lambda: _keys(out) == {"00000.png": new, "00010.png": new})
        # The strip follows: its frames (the middle one is no keyframe) turn red.
        _wait(proc, "the strip to turn red", lambda: (lambda m: m[0] > before[0] + 0.1 and m[1] < before[1] - 0.1
                                                      and m[0] - m[1] > 0.5)(_strip_mean(out)))

        # Saved on request while running.
        (out / "save.request").touch()
        _wait(proc, "the requested save", lambda: model.exists() and not (out / "save.request").exists())
        assert load_model(model).summary.steps > 0

        # Removed.
        (keys / "00010.png").unlink()
        _wait(proc, "the removed keyframe", lambda: _keys(out) == {"00000.png": new})
        steps = _status(out)["steps"]
        _wait(proc, "training to go on", lambda: (_status(out) or {}).get("steps", 0) > steps)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        stdout, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["keyframes"] == {"00000.png": new}
    saved = load_model(model)
    assert saved.summary.steps == summary["steps"] >= steps
    assert saved.summary.keyframe_indices == [0]
    for said in ("added 00000.png", "added 00010.png", "saved over 00000.png", "saved over 00010.png",
                 "removed 00010.png", "stopped (Ctrl-C)", f"saved the model to {model}"):
        assert said in stderr, said


def test_live_refuses_what_it_cannot_follow_by_name(clip, tmp_path):
    frames, keys = clip
    (tmp_path / "preview").mkdir()
    (tmp_path / "preview" / "mine.png").write_bytes(b"a user's file")
    (tmp_path / "kept.safetensors").write_bytes(b"a user's model")
    cases = [(["--preview", str(tmp_path / "preview")], "which a live session did not write"),
             (["--preview", str(tmp_path / "p1"), "--keyframes", str(tmp_path / "nowhere")], "is not a folder"),
             (["--preview", str(tmp_path / "p2"), "--save", str(tmp_path / "kept.safetensors")], "already exists"),
             (["--preview", str(tmp_path / "p3"), "--guides", "rgb,warp"], "--guides: the 'warp' guide")]
    for extra, expected in cases:
        # (a later --keyframes in `extra` replaces the first)
        run = subprocess.run([sys.executable, "-m", "patch_training", "live", "--frames", str(frames), "--keyframes",
                              str(keys), "--seconds", "5", *extra], cwd=REPO, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=WAIT_S)
        assert run.returncode == 2, run.stderr
        assert expected in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert (tmp_path / "preview" / "mine.png").read_bytes() == b"a user's file"
    assert (tmp_path / "kept.safetensors").read_bytes() == b"a user's model"
