"""With VideoHelperSuite (the most used video pack; not on PyPI) beside patch-toon on a real ComfyUI: its loader reads
the MP4 Stylize Video File writes, and Load Frames' fps drives its Video Combine. Set PATCH_TOON_VHS_DIR to a
checkout of ComfyUI-VideoHelperSuite to run these; without it they are skipped and say why."""
import os
from pathlib import Path

import pytest
from PIL import Image
from support import probe_video

from comfy_host import ComfyServer, setup_host

VHS_ENV = "PATCH_TOON_VHS_DIR"
SAMPLE_FRAMES, SAMPLE_MODEL = "[patch-toon sample] frames", "[patch-toon sample] style"


@pytest.fixture(scope="module")
def comfy_vhs():
    folder = os.environ.get(VHS_ENV)
    if not folder:
        pytest.skip(f"{VHS_ENV} is not set: give it a checkout of ComfyUI-VideoHelperSuite to run these")
    if not (Path(folder) / "videohelpersuite" / "nodes.py").is_file():
        pytest.fail(f"{VHS_ENV}={folder}: expected a checkout of ComfyUI-VideoHelperSuite (videohelpersuite/nodes.py)")
    setup_host.ensure()
    server = ComfyServer(other_packs={"ComfyUI-VideoHelperSuite": Path(folder)})
    server.start()
    try:
        missing = [n for n in ("VHS_LoadVideoPath", "VHS_VideoCombine") if n not in server.object_info()]
        if missing:
            pytest.fail(f"VideoHelperSuite did not load on the test host (no {missing}):\n{server.log_tail()}")
        yield server
    finally:
        server.stop()
        server.cleanup()


def defaults(server: ComfyServer, node: str, **given) -> dict:
    """A node's required inputs at their defaults (a combo's first choice), then `given`: VHS's inputs change
    between versions, so the graph takes them from this server's /object_info."""
    inputs = {}
    for name, spec in server.object_info(node)[node]["input"]["required"].items():
        kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
        if isinstance(kind, list):
            inputs[name] = options.get("default", kind[0])
        elif "default" in options:
            inputs[name] = options["default"]
    return {**inputs, **given}


def test_videohelpersuite_loads_the_mp4_that_stylize_video_file_writes(comfy_vhs):
    comfy_vhs.run({
        "1": {"class_type": "PatchToonLoadModel", "inputs": {"model_name": SAMPLE_MODEL}},
        "2": {"class_type": "PatchToonStylizeFile", "inputs": {
            "model": ["1", 0], "source": SAMPLE_FRAMES, "filename_prefix": "patch_toon/for_vhs", "output": "mp4",
            "fps": 0.0, "preview_frames": 1, "batch_size": 4, "tile": 0}},
    }, timeout=600)
    video = comfy_vhs.output_dir / "patch_toon" / "for_vhs_00001_.mp4"
    assert probe_video(video)["codec"] == "h264"
    entry = comfy_vhs.run({
        "1": {"class_type": "VHS_LoadVideoPath", "inputs": defaults(comfy_vhs, "VHS_LoadVideoPath", video=str(video))},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }, timeout=600)
    previews = entry["outputs"]["2"]["images"]
    assert len(previews) == 32
    first = Image.open(comfy_vhs.temp_dir / previews[0]["subfolder"] / previews[0]["filename"])
    assert first.size == (350, 350)


def test_load_frames_fps_sets_the_rate_of_videohelpersuites_video_combine(comfy_vhs):
    entry = comfy_vhs.run({
        "1": {"class_type": "PatchToonLoadFrames", "inputs": {"source": SAMPLE_FRAMES, "start": 0, "count": 0,
                                                             "every_nth": 2, "max_side": 0}},
        "2": {"class_type": "VHS_VideoCombine", "inputs": defaults(
            comfy_vhs, "VHS_VideoCombine", images=["1", 0], frame_rate=["1", 2], format="image/webp",
            filename_prefix="patch_toon/vhs_combine", lossless=True)},
    }, timeout=600)
    (preview,) = entry["outputs"]["2"]["gifs"]
    assert preview["frame_rate"] == 12.5  # the sample's 25 frames/s over every_nth 2
    webp = Image.open(comfy_vhs.output_dir / preview["subfolder"] / preview["filename"])
    webp.seek(1)
    webp.load()  # Pillow reads a frame's duration when it decodes the frame
    assert webp.n_frames == 16 and webp.info["duration"] == 80  # ms per frame at 12.5 frames/s
