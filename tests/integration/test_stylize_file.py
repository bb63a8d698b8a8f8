"""Stylize Video File on a real ComfyUI server: a clip from input/ straight to output/ (MP4 and PNG frames),
frame for frame like the command line, and Cancel leaves nothing behind."""
import json
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from PIL import Image
from support import SAMPLE, probe_video, random_model, read_video, write_clip_with_audio

from comfy_host import ComfyServer, PromptFailed, PromptRejected, setup_host, ui_to_api
from patch_training.model.checkpoint import save_model

REPO = setup_host.REPO
SAMPLE_FRAMES, SAMPLE_MODEL = "[patch-toon sample] frames", "[patch-toon sample] style"


def file_graph(source, model=SAMPLE_MODEL, output="mp4 + png frames", prefix="patch_toon/file", preview=3):
    return {
        "1": {"class_type": "PatchToonLoadModel", "inputs": {"model_name": model}},
        "2": {"class_type": "PatchToonStylizeFile", "inputs": {
            "model": ["1", 0], "source": source, "filename_prefix": prefix, "output": output, "fps": 0.0,
            "preview_frames": preview, "batch_size": 4, "tile": 0}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


def test_a_clip_is_stylized_to_a_video_and_frames_like_the_command_line(comfy, tmp_path):
    entry = comfy.run(file_graph(SAMPLE_FRAMES), timeout=600)
    out = comfy.output_dir / "patch_toon"
    video, folder = out / "file_00001_.mp4", out / "file_00001_"
    frames, fps = read_video(video)
    assert len(frames) == 32 and frames[0].shape == (350, 350, 3) and fps == pytest.approx(25)
    names = sorted(p.name for p in folder.glob("*.png"))
    assert names == sorted(p.stem + ".png" for p in (SAMPLE / "frames").iterdir())
    assert sorted(p.name for p in folder.iterdir()) == [".patch-toon-render.json", *names]  # for update_from
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging left
    previews = entry["outputs"]["3"]["images"]
    assert len(previews) == 3
    # The command line, with the same sample model on the same frames (as PNG), writes the same frames.
    pngs = tmp_path / "frames"
    pngs.mkdir()
    for p in sorted((SAMPLE / "frames").iterdir()):
        Image.open(p).save(pngs / (p.stem + ".png"))
    cli = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "patch_training", "stylize", "--model",
                    str(SAMPLE / "sample_style.safetensors"), "--frames", str(pngs), "--out", str(cli)],
                   cwd=REPO, check=True, capture_output=True, timeout=300)
    for name in names:
        a = np.asarray(Image.open(folder / name), dtype=int)
        b = np.asarray(Image.open(cli / name), dtype=int)
        assert np.abs(a - b).max() <= 1, name
    input_frame = np.asarray(Image.open(pngs / names[5]), dtype=float)
    assert np.abs(np.asarray(Image.open(folder / names[5]), dtype=float) - input_frame).mean() > 8


def test_cancel_leaves_nothing_in_the_output_folder(comfy, tmp_path):
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((SAMPLE / "frames").iterdir())]
    clip = tmp_path / "long_clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (350, 350))
    for t in range(2000):  # a clip that takes far longer than the test waits
        writer.write(cv2.cvtColor(frames[t % 32], cv2.COLOR_RGB2BGR))
    writer.release()
    source = comfy.add_input(clip)
    models = comfy.root / "models" / "patch_toon"
    models.mkdir(parents=True, exist_ok=True)
    save_model(random_model(preset="reference"), models / "slow_rgb.safetensors", overwrite=True)
    prompt_id = comfy.queue(file_graph(source, "slow_rgb.safetensors", prefix="patch_toon/cancelled"))
    out = comfy.output_dir / "patch_toon"
    deadline = time.monotonic() + 120
    while not any(out.glob(".cancelled_*.partial*")):  # writing has started
        assert time.monotonic() < deadline, comfy.log_tail()
        time.sleep(0.1)
    time.sleep(1.0)
    assert comfy.interrupt(prompt_id)
    with pytest.raises(PromptFailed) as failed:
        comfy.wait(prompt_id, timeout=120)
    assert failed.value.interrupted
    assert list(out.glob("*cancelled*")) == []  # neither the video, nor the frames, nor their staging
    comfy.run(file_graph(SAMPLE_FRAMES, output="png frames", prefix="patch_toon/after"), timeout=600)
    assert len(list((out / "after_00001_").glob("*.png"))) == 32  # the server goes on


def test_the_shipped_file_to_file_workflow_writes_a_browser_playable_mp4_with_its_workflow(comfy):
    workflow = json.loads((REPO / "example_workflows" / "stylize_video_file.json").read_text())
    prompt = ui_to_api(workflow, comfy.object_info())
    # As the page queues it: the prompt, and the workflow in extra_pnginfo (what core's Save Video embeds).
    entry = comfy.wait(comfy.queue(prompt, extra_data={"extra_pnginfo": {"workflow": workflow}}), timeout=600)
    out = comfy.output_dir / "patch_toon"
    (video,) = out.glob("video_*_.mp4")
    seen = probe_video(video)
    assert (seen["codec"], seen["pix_fmt"], seen["size"], len(seen["frames"])) == ("h264", "yuv420p", (350, 350), 32)
    assert seen["faststart"] and seen["audio"] is None  # the sample is a folder of frames: no sound
    embedded = json.loads(seen["metadata"]["prompt"])  # the server's own copy (it adds its cache keys)
    assert {k: (v["class_type"], v["inputs"]) for k, v in embedded.items()} == \
        {k: (v["class_type"], v["inputs"]) for k, v in prompt.items()}
    assert json.loads(seen["metadata"]["workflow"]) == workflow
    assert len(entry["outputs"]["3"]["images"]) == 4
    # The node's own ui: the MP4 as core's Save Video sends it (a video player on the node), and what it wrote.
    ui = entry["outputs"]["2"]
    assert ui["images"] == [{"filename": video.name, "subfolder": "patch_toon", "type": "output"}]
    assert ui["animated"] == [True] and ui["text"][0].startswith("wrote patch_toon/video_")
    assert comfy.get_file(video.name, "patch_toon") == video.read_bytes()  # what the player loads


def test_a_clip_by_path_keeps_its_audio_and_load_frames_gives_its_fps(comfy, tmp_path):
    clip = write_clip_with_audio(tmp_path / "elsewhere" / "clip.mkv", 30, size=(48, 64), audio="libopus")
    models = comfy.root / "models" / "patch_toon"
    models.mkdir(parents=True, exist_ok=True)
    save_model(random_model(), models / "any_clip.safetensors", overwrite=True)
    graph = file_graph(SAMPLE_FRAMES, "any_clip.safetensors", output="mp4", prefix="patch_toon/by_path")
    graph["2"]["inputs"]["path"] = str(clip)  # outside ComfyUI's input folder
    entry = comfy.run(graph, timeout=600)
    seen = probe_video(comfy.output_dir / "patch_toon" / "by_path_00001_.mp4")
    assert (seen["codec"], seen["size"], len(seen["frames"]), seen["fps"]) == ("h264", (48, 64), 30, 25.0)
    assert seen["audio"] == "aac" and seen["audio_seconds"] == pytest.approx(1.2, abs=0.06)
    assert "the source's opus audio was re-encoded to AAC" in entry["outputs"]["2"]["text"]
    # Load Frames' fps (the video's rate over every_nth) sets the rate of the video written.
    source = comfy.add_input(clip)
    graph["0"] = {"class_type": "PatchToonLoadFrames", "inputs": {"source": source, "start": 0, "count": 0,
                                                                  "every_nth": 2, "max_side": 0}}
    graph["2"]["inputs"].update(fps=["0", 2], filename_prefix="patch_toon/half_rate")
    entry = comfy.run(graph, timeout=600)
    seen = probe_video(comfy.output_dir / "patch_toon" / "half_rate_00001_.mp4")
    assert seen["fps"] == 12.5 and seen["audio"] is None  # another speed: the audio would no longer fit
    assert any("fps 12.5" in line for line in entry["outputs"]["2"]["text"])


def test_a_path_that_does_not_exist_is_refused_by_name_before_the_run(comfy, tmp_path):
    graph = file_graph(SAMPLE_FRAMES)
    graph["2"]["inputs"]["path"] = str(tmp_path / "no_such_clip.mp4")
    with pytest.raises(PromptRejected) as rejected:
        comfy.queue(graph)
    assert "path: expected a video file or a folder of frames" in str(rejected.value)
    assert "no_such_clip.mp4" in str(rejected.value)


def test_under_disable_metadata_the_mp4_carries_no_prompt_nor_workflow(tmp_path):
    setup_host.ensure()
    with ComfyServer(extra_args=("--disable-metadata",)) as server:
        workflow = {"nodes": [], "links": []}
        prompt_id = server.queue(file_graph(SAMPLE_FRAMES, output="mp4", prefix="patch_toon/private", preview=1),
                                 extra_data={"extra_pnginfo": {"workflow": workflow}})
        server.wait(prompt_id, timeout=600)
        seen = probe_video(server.output_dir / "patch_toon" / "private_00001_.mp4")
    assert seen["codec"] == "h264" and not {"prompt", "workflow"} & set(seen["metadata"])
