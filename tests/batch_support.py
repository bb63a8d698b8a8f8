"""Tiny projects for the batch tests: shots as folders of PNG frames and stylized keyframes, and their manifest."""
import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from patch_training.guides.synthetic import translating_clip


def frame_name(t: int) -> str:
    """The file name of frame t of a shot: its input frame's, its stylized keyframe's and its output frame's."""
    return f"f{t:04d}.png"


def write_clip(folder: Path, count: int, seed: int, size=(48, 64)) -> np.ndarray:
    frames, _ = translating_clip(count, size[0], size[1], 1.5, -1.0, seed=seed)
    images = (frames.numpy() * 255).round().astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for t, image in enumerate(images):
        Image.fromarray(image).save(folder / frame_name(t))
    return images


def write_keyframes(folder: Path, images: np.ndarray, indices) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t in indices:
        Image.fromarray(np.ascontiguousarray(255 - images[t][..., ::-1])).save(folder / frame_name(t))


def make_project(root: Path, frames: int = 24, bad: bool = True, steps: int = 6) -> Path:
    """shots: 'guided' (gauss+edges, keyframes 0 and 14), 'rgb' (no guides, one keyframe) and, if bad, 'broken'
    (its keyframe folder is missing) and 'badvideo' (an unreadable video). Returns the manifest's path; outputs
    go to root/out/."""
    guided = write_clip(root / "clips" / "guided", frames, seed=1)
    write_keyframes(root / "keys" / "guided", guided, [0, 14])
    rgb = write_clip(root / "clips" / "rgb", frames - 4, seed=2)
    write_keyframes(root / "keys" / "rgb", rgb, [5])
    shots = [{"name": "guided", "frames": "clips/guided", "keyframes": "keys/guided", "out": "out/guided"},
             {"name": "rgb", "frames": "clips/rgb", "keyframes": "keys/rgb", "out": "out/rgb", "guides": "rgb",
              "seed": 3}]
    if bad:
        (root / "clips" / "bad.mp4").write_bytes(b"not a video" * 100)
        shots += [{"name": "broken", "frames": "clips/rgb", "keyframes": "keys/missing", "out": "out/broken"},
                  {"name": "badvideo", "frames": "clips/bad.mp4", "keyframes": "keys/rgb", "out": "out/badvideo"}]
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"defaults": {"steps": steps, "seed": 0, "preset": "fast"}, "shots": shots},
                                   indent=1))
    return manifest


GOOD = ("guided", "rgb")


def reference(root: Path, manifest: Path, shots=GOOD) -> Path:
    """The single-machine result of the manifest's good shots: `train` then `stylize`, with the same options,
    into root/reference/<name>(.safetensors). Returns root/reference."""
    from patch_training.cli import main

    data = json.loads(manifest.read_text())
    ref = root / "reference"
    for shot in data["shots"]:
        if shot["name"] not in shots:
            continue
        options = {**data["defaults"], **shot}
        base = manifest.parent
        model = ref / f"{shot['name']}.safetensors"
        argv = ["train", "--frames", str(base / options["frames"]), "--keyframes", str(base / options["keyframes"]),
                "--out", str(model), "--steps", str(options["steps"]), "--seed", str(options["seed"]),
                "--preset", options["preset"]]
        if "guides" in options:
            argv += ["--guides", options["guides"]]
        assert main(argv) == 0
        assert main(["stylize", "--model", str(model), "--frames", str(base / options["frames"]),
                     "--out", str(ref / shot["name"])]) == 0
    return ref


def assert_same_as_reference(out: Path, ref: Path, shots=GOOD) -> None:
    """Each shot's model has the reference's weights exactly, and its frames (all there, once) are within 1/255."""
    import torch

    from patch_training.model.checkpoint import load_model
    from patch_training.pipeline.render_record import RECORD_NAME

    for name in shots:
        ours, theirs = load_model(out / f"{name}.safetensors"), load_model(ref / f"{name}.safetensors")
        for (key, a), (_, b) in zip(ours.generator.state_dict().items(), theirs.generator.state_dict().items()):
            assert torch.equal(a, b), (name, key)
        # the frames; the reference, stylized by the command line, also holds its render record (RECORD_NAME),
        # which batch jobs do not write (several processes write one shot's folder)
        names = sorted(p.name for p in (ref / name).iterdir() if p.name != RECORD_NAME)
        assert sorted(p.name for p in (out / name).iterdir()) == names, name
        for frame in names:
            a = np.asarray(Image.open(out / name / frame), np.int16)
            b = np.asarray(Image.open(ref / name / frame), np.int16)
            assert np.abs(a - b).max() <= 1, (name, frame)
        assert not list(out.glob(f".{name}.*.partial*")), "a staging folder was left behind"


def segment_in_progress(marker: Path, outs: dict[str, Path]) -> bool:
    """Whether the worker that wrote `marker` (stopped by the caller, so nothing moves) is inside the segment it
    names ("SHOT FIRST-STOP", batch.run.segment_task) with the segment's frames not all moved into place yet."""
    try:
        shot, segment = marker.read_text().split()
        first, stop = map(int, segment.split("-"))
    except (OSError, ValueError):
        return False  # gone: the segment finished; or stopped while writing it
    return not all((outs[shot] / frame_name(t)).is_file() for t in range(first, stop))


def kill_first_segment_worker(pid_folder: Path, outs: dict[str, Path], stop: threading.Event, killed: list) -> None:
    """SIGKILL the first worker process (Ray's or local) seen running a segment (it names itself in pid_folder),
    once, and only while the segment is still to be moved into place: a worker stays named for a moment after
    moving its frames, and killing it then would leave nothing to run again. Each candidate is stopped (SIGSTOP)
    while its segment is looked at, and let go again (SIGCONT) when the segment turns out finished."""
    while not stop.is_set() and not killed:
        for marker in pid_folder.glob("*.pid") if pid_folder.is_dir() else []:
            pid = int(marker.stem)
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue  # that worker had just finished: wait for the next one
            try:
                if segment_in_progress(marker, outs):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            finally:
                if not killed:
                    os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)


@contextlib.contextmanager
def killing_a_segment_worker(pid_folder: Path, manifest: Path):
    """While inside: SIGKILL the first worker seen running a segment of one of the manifest's shots, before the
    segment's frames are in place (run the job with --pid-folder pid_folder). On leaving, checks that one was
    killed."""
    data = json.loads(manifest.read_text())
    outs = {shot["name"]: manifest.parent / shot["out"] for shot in data["shots"]}
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_first_segment_worker, args=(pid_folder, outs, stop, killed))
    killer.start()
    try:
        yield killed
    finally:
        stop.set()
        killer.join()
    assert killed, "no segment worker was seen running"
