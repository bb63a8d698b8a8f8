"""Stylize Video File's update_from on a real ComfyUI server: after a keyframe edit only the frames it reaches are
stylized again, the others are taken from the earlier result, and the frames equal a fresh full render."""
import cv2
import numpy as np
import pytest
from PIL import Image

from comfy_host import PromptRejected
from patch_training.guides import GuideSpec
from patch_training.model.checkpoint import save_model
from support import SAMPLE, random_model, read_video

from test_nodes_training import load_frames

KEYS = [0, 14, 31]
WARP = GuideSpec(guides=("warp",))


def keyframe_images(comfy, edited: bool) -> list[str]:
    """The sample's keyframes in the server's input folder; edited: keyframe 31 painted again (a red wash), which
    feeds frames 14-31 only (the warp guide of a frame comes from the keyframes on either side of it)."""
    names = []
    for key in KEYS:
        image = np.asarray(Image.open(SAMPLE / "keyframes" / f"{key:05d}.png").convert("RGB")).copy()
        if edited and key == 31:
            image[..., 0] = 255
        name = f"update_key{key}{'_edited' if edited and key == 31 else ''}.png"
        Image.fromarray(image).save(comfy.input_dir / name)
        names.append(name)
    return names


def update_graph(comfy, prefix: str, edited: bool, update_from: str = "") -> dict:
    a, b, c = keyframe_images(comfy, edited)
    return {
        "1": load_frames(),
        "2": {"class_type": "LoadImage", "inputs": {"image": a}},
        "3": {"class_type": "LoadImage", "inputs": {"image": b}},
        "4": {"class_type": "LoadImage", "inputs": {"image": c}},
        "5": {"class_type": "ImageBatch", "inputs": {"image1": ["2", 0], "image2": ["3", 0]}},
        "6": {"class_type": "ImageBatch", "inputs": {"image1": ["5", 0], "image2": ["4", 0]}},
        "7": {"class_type": "PatchToonMakeKeyframes", "inputs": {"frames": ["1", 0], "stylized": ["6", 0],
                                                                 "indices": "0, 14, 31", "align": "off"}},
        "8": {"class_type": "PatchToonLoadModel", "inputs": {"model_name": "update_warp.safetensors"}},
        "9": {"class_type": "PatchToonStylizeFile", "inputs": {
            "model": ["8", 0], "source": "[patch-toon sample] frames", "filename_prefix": prefix,
            "output": "mp4 + png frames", "fps": 0.0, "preview_frames": 2, "batch_size": 4, "tile": 0,
            "keyframes": ["7", 0], "update_from": update_from}},
    }


def folder_frames(folder):
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


def test_update_from_re_renders_only_the_edited_keyframes_frames_and_equals_a_full_render(comfy):
    models = comfy.root / "models" / "patch_toon"
    models.mkdir(parents=True, exist_ok=True)
    model = random_model(guides=WARP.channels)
    model.guides, model.summary = WARP.to_dict(), {"keyframe_indices": KEYS, "frame_size": [350, 350]}
    save_model(model, models / "update_warp.safetensors", overwrite=True)
    out = comfy.output_dir / "patch_toon"

    comfy.run(update_graph(comfy, "patch_toon/upd", edited=False), timeout=600)
    entry = comfy.run(update_graph(comfy, "patch_toon/upd", edited=True, update_from="patch_toon/upd_00001_"),
                      timeout=600)
    comfy.run(update_graph(comfy, "patch_toon/full", edited=True), timeout=600)

    text = entry["outputs"]["9"]["text"]
    assert text[0].startswith("wrote patch_toon/upd_00002_.mp4, patch_toon/upd_00002_ ")
    rendered = int(text[1].split(" of ")[0])
    assert 14 <= rendered <= 20 and text[1].endswith("keyframe 31 changed; the model is the same"), text
    updated, full = folder_frames(out / "upd_00002_"), folder_frames(out / "full_00001_")
    assert list(updated) == list(full) and len(full) == 32
    assert all(np.array_equal(updated[name], full[name]) for name in full)  # bit-identical frames
    before = folder_frames(out / "upd_00001_")
    assert sum(not np.array_equal(before[n], full[n]) for n in full) <= rendered
    assert (out / "upd_00001_.mp4").is_file()  # the earlier result is kept
    # The MP4 is encoded from the kept and the new frames. H.264 is lossy and its encoder is not bit-reproducible
    # from run to run here, so: it shows the full render's frames as closely as the full render's own MP4 does.
    updated_video, full_video = read_video(out / "upd_00002_.mp4")[0], read_video(out / "full_00001_.mp4")[0]

    def error(video):
        return [float(np.abs(cv2.cvtColor(v, cv2.COLOR_BGR2RGB).astype(int) - f).mean())
                for v, f in zip(video, full.values())]

    assert len(updated_video) == len(full_video) == 32
    assert max(error(updated_video)) < max(error(full_video)) + 0.5 < 8


def test_update_from_without_a_render_record_is_refused_by_name_before_the_run(comfy):
    (comfy.output_dir / "patch_toon" / "not_ours").mkdir(parents=True, exist_ok=True)
    with pytest.raises(PromptRejected) as rejected:
        comfy.queue(update_graph(comfy, "patch_toon/refused", edited=False, update_from="patch_toon/not_ours"))
    assert "update_from:" in str(rejected.value) and "has no render record" in str(rejected.value)
