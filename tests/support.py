"""Helpers shared by tests (importable as `support`: tests/ is on sys.path through conftest.py)."""
import json
import signal
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save

from patch_training.model.checkpoint import checkpoint_metadata
from patch_training.config import PRESETS
from patch_training.keyframes import make_keyframes
from patch_training.model.networks import StyleModel, build_generator

REPO = Path(__file__).resolve().parents[1]


def interruptible() -> None:
    """subprocess.Popen(preexec_fn=interruptible): the child takes SIGINT as Ctrl-C, also when the tests run as a
    shell's background job (`make test &` starts them with SIGINT ignored, and Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def random_model(preset: str = "fast", guides: int = 0, seed: int = 0) -> StyleModel:
    torch.manual_seed(seed)
    config = PRESETS[preset].with_inputs(3 + guides)
    net = build_generator(config)
    with torch.no_grad():  # a residual model starts as the identity: give it a real response
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return StyleModel(net, config, {"names": ["test"]} if guides else {})


SAMPLE = REPO / "example_workflows" / "assets" / "sample"


def write_frames(folder: Path, count: int = 4, size=(40, 56), ext: str = "png", seed: int = 0) -> list[Path]:
    """`count` random frames 00000.png... in `folder`, reproducible by `seed`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        p = folder / f"{i:05d}.{ext}"
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def write_stylized(frames: Path, keys: Path, stems) -> None:
    """Keyframes in `keys` for the frames named `stems` in `frames`: each frame inverted with its channels
    swapped, another look on the frame's own grid (registration, align auto, keeps them as they are)."""
    keys.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        image = np.asarray(Image.open(frames / f"{stem}.png").convert("RGB"))
        Image.fromarray(np.ascontiguousarray(255 - image[..., ::-1])).save(keys / f"{stem}.png")


def moving_clip(textured, t=5, size=(48, 64)):
    """A pan of `t` frames (1 pixel per frame) over the `textured` fixture's image, and its first and last frames
    inverted as keyframes."""
    base = textured(1, size[0], size[1] + 2 * t)[0]
    frames = torch.stack([base[:, i:i + size[1]] for i in range(t)])  # a pan: 1 pixel per frame
    keyframes, _ = make_keyframes([0, t - 1], (1 - frames[[0, t - 1]]).contiguous(), frames=frames)
    return frames, keyframes


HOSTILE_CHECKPOINTS = ("truncated", "header size flipped", "nested metadata", "huge widths", "nan weights",
                       "extra tensor")


def hostile_checkpoint(kind: str, path: Path) -> Path:
    """Writes a damaged or edited copy of a real checkpoint to `path`: one of HOSTILE_CHECKPOINTS."""
    model = random_model()
    state, meta = dict(model.generator.state_dict()), checkpoint_metadata(model)
    if kind == "nested metadata":
        meta["summary"] = "[" * 100_000 + "]" * 100_000
    elif kind == "huge widths":
        meta["generator"] = json.dumps({**model.config.to_dict(), "widths": [2**40] * 3})
    elif kind == "nan weights":
        state["stem.weight"] = state["stem.weight"].clone()
        state["stem.weight"][0, 0, 0, 0] = float("nan")
    elif kind == "extra tensor":
        state["payload"] = torch.zeros(4)
    data = save(state, meta)
    if kind == "truncated":
        data = data[:len(data) // 2]
    elif kind == "header size flipped":
        data = bytes([data[0], data[1], data[2], data[3] ^ 0x40]) + data[4:]
    path.write_bytes(data)
    return path


def read_video(path) -> tuple[list, float]:
    """Every frame of a video file (BGR uint8 arrays, as OpenCV decodes them) and its frame rate."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    fps, frames = cap.get(cv2.CAP_PROP_FPS), []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames, fps
