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
# Example workflows built on core nodes that the test host, ComfyUI of March 2024, lacks: the 2024 server cannot
# load or queue them (it has no such node types, or older ones with fewer inputs). Their core nodes are checked
# against today's definitions (tests/fixtures/today_core_nodes.json, from ComfyUI v0.8.0's source) instead.
TODAYS_COMFYUI_ONLY = {
    "flux_kontext_keyframe_sheet": "Flux Kontext's nodes (ReferenceLatent, FluxGuidance; DualCLIPLoader's 'flux' type, "
                                   "UNETLoader's weight_dtype) came to ComfyUI after March 2024",
    "qwen_image_edit_keyframe_sheet": "Qwen-Image-Edit's nodes (TextEncodeQwenImageEdit, ModelSamplingAuraFlow, "
                                      "CFGNorm; CLIPLoader's 'qwen_image' type) came to ComfyUI after March 2024",
}
TODAY_CORE_NODES = REPO / "tests" / "fixtures" / "today_core_nodes.json"


def todays_core_nodes() -> dict:
    """Today's definitions (ComfyUI v0.8.0) of the core nodes the TODAYS_COMFYUI_ONLY workflows use, as
    /object_info gives them."""
    nodes = json.loads(TODAY_CORE_NODES.read_text())
    nodes.pop("_about")
    return nodes


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


def write_clip_with_audio(path, count: int = 25, size: tuple[int, int] = (48, 64), fps: int = 25,
                          audio: str | None = "aac", tone_hz: float = 440.0) -> Path:
    """A video file of `count` frames of `size` (H, W), each a brighter grey with a moving white bar, in H.264,
    with a stereo sine tone of the clip's length in the `audio` codec ("aac", "libopus" in .mkv, ...) or none.
    Written with PyAV, as a camera or an editor would."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        sound = None if audio is None else container.add_stream(audio, rate=48000, layout="stereo")
        for t in range(count):
            image = np.full((h, w, 3), 40 + 6 * t, np.uint8)
            image[:, (3 * t) % w] = 255
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = t
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            step, total = 960, 48000 * count // fps
            for start in range(0, total, step):
                x = (0.3 * np.sin(np.arange(start, start + step) / 48000 * 2 * np.pi * tone_hz)).astype(np.float32)
                chunk = av.AudioFrame.from_ndarray(np.stack([x, x]), format="fltp", layout="stereo")
                chunk.sample_rate, chunk.pts = 48000, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def probe_video(path) -> dict:
    """What a player sees of a video file (read with PyAV): codec, pixel format, size, frame count, the audio
    stream's codec and seconds (None without audio), the container's tags, and whether the index (moov) comes
    before the media (mdat), as `faststart` puts it."""
    import av

    data = Path(path).read_bytes()
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        audio = container.streams.audio[0] if container.streams.audio else None
        return {"codec": video.codec_context.name, "pix_fmt": video.codec_context.pix_fmt,
                "size": (video.height, video.width), "frames": frames, "fps": float(video.average_rate),
                "audio": None if audio is None else audio.codec_context.name,
                "audio_seconds": None if audio is None else float(audio.duration * audio.time_base),
                "metadata": dict(container.metadata),
                "faststart": 0 <= data.find(b"moov") < data.find(b"mdat")}
