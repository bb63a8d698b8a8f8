"""Tiny projects for the batch tests: shots as folders of PNG frames and stylized keyframes, and their manifest."""
import json
from pathlib import Path

import numpy as np
from PIL import Image

from patch_training.guides.synthetic import translating_clip


def write_clip(folder: Path, count: int, seed: int, size=(48, 64)) -> np.ndarray:
    frames, _ = translating_clip(count, size[0], size[1], 1.5, -1.0, seed=seed)
    images = (frames.numpy() * 255).round().astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for t, image in enumerate(images):
        Image.fromarray(image).save(folder / f"f{t:04d}.png")
    return images


def write_keyframes(folder: Path, images: np.ndarray, indices) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t in indices:
        Image.fromarray(np.ascontiguousarray(255 - images[t][..., ::-1])).save(folder / f"f{t:04d}.png")


def make_project(root: Path, frames: int = 24, bad: bool = True, steps: int = 6) -> Path:
    """shots: 'guided' (gauss+edges, keyframes 0 and 14), 'rgb' (no guides, one keyframe) and, if bad, 'broken'
    (its keyframe folder is missing). Returns the manifest's path; outputs go to root/out/."""
    guided = write_clip(root / "clips" / "guided", frames, seed=1)
    write_keyframes(root / "keys" / "guided", guided, [0, 14])
    rgb = write_clip(root / "clips" / "rgb", frames - 4, seed=2)
    write_keyframes(root / "keys" / "rgb", rgb, [5])
    shots = [{"name": "guided", "frames": "clips/guided", "keyframes": "keys/guided", "out": "out/guided"},
             {"name": "rgb", "frames": "clips/rgb", "keyframes": "keys/rgb", "out": "out/rgb", "guides": "rgb",
              "seed": 3}]
    if bad:
        shots.append({"name": "broken", "frames": "clips/rgb", "keyframes": "keys/missing", "out": "out/broken"})
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"defaults": {"steps": steps, "seed": 0, "preset": "fast"}, "shots": shots},
                                   indent=1))
    return manifest
