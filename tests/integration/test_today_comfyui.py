"""Stylize Video File with core's video nodes on a newer ComfyUI than the 2024 test host (which has no VIDEO type):
Load Video -> Stylize Video File -> Save Video, and Load Frames -> Create Video -> Stylize Video File. Set
PATCH_TOON_TODAY_COMFY to such a ComfyUI (tests/comfy_host/today.py: ComfyUI/, venv/, stubs/) to run these; without
it they are skipped and say why. Passed on ComfyUI v0.8.0 (frontend 1.35.9, PyAV 18.1.0), 2026-12-02."""
import json

import pytest
from support import probe_video, random_model, write_clip_with_audio

from comfy_host.today import TODAY_ENV, TodayServer, today_folder
from patch_training.model.checkpoint import save_model


@pytest.fixture(scope="module")
def today(tmp_path_factory):
    folder = today_folder()
    if folder is None:
        pytest.skip(f"{TODAY_ENV} is not set: give it a ComfyUI with core's VIDEO type (mid 2025 on) to run these")
    server = TodayServer(folder)
    server.start()
    try:
        missing = [n for n in ("LoadVideo", "CreateVideo", "SaveVideo", "PatchToonStylizeFile")
                   if n not in server.object_info()]
        if missing:
            pytest.fail(f"{TODAY_ENV}={folder}: no {missing} on that ComfyUI:\n{server.log_tail()}")
        models = server.root / "models" / "patch_toon"
        models.mkdir(parents=True, exist_ok=True)
        save_model(random_model(), models / "any_clip.safetensors")
        write_clip_with_audio(server.input_dir / "tone_clip.mp4", 30, size=(96, 128), audio="aac")
        yield server
    finally:
        server.cleanup()


def stylize_video(video_link, prefix):
    return {"model": ["m", 0], "source": "[patch-toon sample] frames", "filename_prefix": prefix, "output": "mp4",
            "fps": 0.0, "preview_frames": 1, "batch_size": 4, "tile": 0, "path": "", "video": video_link}


def test_load_video_to_stylize_video_file_to_save_video_keeps_frames_rate_audio_and_workflow(today):
    workflow = {"nodes": [{"id": 1, "type": "LoadVideo"}]}
    prompt = {
        "m": {"class_type": "PatchToonLoadModel", "inputs": {"model_name": "any_clip.safetensors"}},
        "1": {"class_type": "LoadVideo", "inputs": {"file": "tone_clip.mp4"}},
        "2": {"class_type": "PatchToonStylizeFile", "inputs": stylize_video(["1", 0], "patch_toon/from_load_video")},
        "3": {"class_type": "SaveVideo", "inputs": {"video": ["2", 2], "filename_prefix": "video/after_patch_toon",
                                                    "format": "auto", "codec": "auto"}},
    }
    entry = today.wait(today.queue(prompt, extra_data={"extra_pnginfo": {"workflow": workflow}}), timeout=600)
    ours = probe_video(today.output_dir / "patch_toon" / "from_load_video_00001_.mp4")
    saved = probe_video(today.output_dir / "video" / "after_patch_toon_00001_.mp4")
    for seen in (ours, saved):
        assert (seen["codec"], seen["size"], len(seen["frames"]), seen["fps"]) == ("h264", (96, 128), 30, 25.0)
        assert seen["audio"] == "aac" and seen["audio_seconds"] == pytest.approx(1.2, abs=0.05)
        assert json.loads(seen["metadata"]["workflow"]) == workflow
    # The node's ui is core's Save Video's: today's frontend plays both the same way.
    assert set(entry["outputs"]["2"]) >= {"images", "animated"} and entry["outputs"]["2"]["animated"] == [True]
    assert set(entry["outputs"]["3"]) == {"images", "animated"}


def test_create_video_from_load_frames_with_its_fps_is_stylized(today):
    prompt = {
        "m": {"class_type": "PatchToonLoadModel", "inputs": {"model_name": "any_clip.safetensors"}},
        "0": {"class_type": "PatchToonLoadFrames", "inputs": {"source": "tone_clip.mp4", "start": 0, "count": 0,
                                                             "every_nth": 2, "max_side": 0}},
        "1": {"class_type": "CreateVideo", "inputs": {"images": ["0", 0], "fps": ["0", 2]}},
        "2": {"class_type": "PatchToonStylizeFile", "inputs": stylize_video(["1", 0], "patch_toon/from_frames")},
    }
    today.run(prompt, timeout=600)
    seen = probe_video(today.output_dir / "patch_toon" / "from_frames_00001_.mp4")
    assert (seen["codec"], len(seen["frames"]), seen["fps"]) == ("h264", 15, 12.5)
