"""Writes example_workflows/*.json in the UI format that ComfyUI's 2024 (LiteGraph) page saves.

Developers: `.venv/bin/python tools/build_workflows.py` (after `make test` has set up the test host). It
starts the test ComfyUI server to read the nodes' inputs from /object_info, so the files match the nodes.
The image-edit workflows use core nodes of today's ComfyUI that the 2024 server lacks (or has with fewer
inputs): their definitions come from tests/fixtures/today_core_nodes.json (written from ComfyUI v0.8.0's source).
"""
import json, sys
from pathlib import Path

from repo import REPO  # first: the repository root on sys.path

sys.path.insert(0, str(REPO / "tests"))
from comfy_host import ComfyServer
from comfy_host.workflow import WIDGET_TYPES
from support import todays_core_nodes

SAMPLE_FRAMES, SAMPLE_KEYS = "[patch-toon sample] frames", "[patch-toon sample] keyframes"
SAMPLE_MODEL = "[patch-toon sample] style"
# The SD 1.5 checkpoint of diffusion_keyframes, as ComfyUI's own SD 1.5 templates name it. Its `models` entry
# (top-level key of today's workflow format: name, url, directory) feeds today's missing-models dialog; the URL is
# for the user to follow, nothing downloads it. The 2024 page ignores the key.
SD15 = {"name": "v1-5-pruned-emaonly-fp16.safetensors", "directory": "checkpoints",
        "url": "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/"
               "v1-5-pruned-emaonly-fp16.safetensors?download=true"}
# The image-edit models' files, as ComfyUI's own templates (flux_kontext_dev_basic, image_qwen_image_edit) name them.
HF = "https://huggingface.co/"
KONTEXT = [
    {"name": "flux1-dev-kontext_fp8_scaled.safetensors", "directory": "diffusion_models",
     "url": HF + "Comfy-Org/flux1-kontext-dev_ComfyUI/resolve/main/split_files/diffusion_models/"
                 "flux1-dev-kontext_fp8_scaled.safetensors"},
    {"name": "clip_l.safetensors", "directory": "text_encoders",
     "url": HF + "comfyanonymous/flux_text_encoders/resolve/main/clip_l.safetensors"},
    {"name": "t5xxl_fp8_e4m3fn_scaled.safetensors", "directory": "text_encoders",
     "url": HF + "comfyanonymous/flux_text_encoders/resolve/main/t5xxl_fp8_e4m3fn_scaled.safetensors"},
    {"name": "ae.safetensors", "directory": "vae",
     "url": HF + "Comfy-Org/Lumina_Image_2.0_Repackaged/resolve/main/split_files/vae/ae.safetensors"},
]
QWEN_EDIT = [
    {"name": "qwen_image_edit_fp8_e4m3fn.safetensors", "directory": "diffusion_models",
     "url": HF + "Comfy-Org/Qwen-Image-Edit_ComfyUI/resolve/main/split_files/diffusion_models/"
                 "qwen_image_edit_fp8_e4m3fn.safetensors"},
    {"name": "qwen_2.5_vl_7b_fp8_scaled.safetensors", "directory": "text_encoders",
     "url": HF + "Comfy-Org/Qwen-Image_ComfyUI/resolve/main/split_files/text_encoders/"
                 "qwen_2.5_vl_7b_fp8_scaled.safetensors"},
    {"name": "qwen_image_vae.safetensors", "directory": "vae",
     "url": HF + "Comfy-Org/Qwen-Image_ComfyUI/resolve/main/split_files/vae/qwen_image_vae.safetensors"},
]
SHEET_PROMPT = ("Redraw every picture of this sheet as a hand-inked comic illustration: bold black outlines, flat "
                "colours, halftone shading. Keep each picture's layout, poses and framing exactly, and keep the grey "
                "bands between the pictures.")
SHEET_NOTE = ("\n\nMake Keyframe Sheet tiles frames 0, 14 and 31 into one image (2 x 2 tiles of 448 px here, a grey "
              "gutter between them): the image model stylizes them in one pass, so they agree with each other and the "
              "clip does not flicker where one keyframe hands over to the next. Split Keyframe Sheet cuts its result "
              "back by proportion (a result at another size still splits) into keyframes at the frames' size; "
              "Make Keyframes, Train Patch Model and Stylize Frames do the rest. More keyframes, smaller tiles: keep "
              "max_side at the model's working size (1024) and give both sheet nodes the same value. The prompt asks to "
              "keep the layout: a model that moves the pictures or crops the sheet breaks the split (Split Keyframe "
              "Sheet then names both sizes).")


def today_info(info):
    """The 2024 server's /object_info with today's definitions of the core nodes the image-edit workflows use."""
    return {**info, **todays_core_nodes()}


def sheet_ends(g, first, sheet_id, image_id, label):
    """Split Keyframe Sheet -> Make Keyframes -> Train -> Stylize -> Save (a second row), from the stylized image
    of node image_id; node ids from `first` on."""
    split, keys, train, styl, save, model, preview = range(first, first + 7)
    g.add(preview, "PreviewImage", [1660, 180], None, [320, 320], "Stylized sheet")
    g.add(split, "PatchToonSplitKeyframeSheet", [420, 640], ["0, 14, 31", 1024], [320, 130], converted=("indices",))
    g.add(keys, "PatchToonMakeKeyframes", [780, 640], ["0, 14, 31"], [320, 120], converted=("indices",))
    g.add(train, "PatchToonTrain", [1140, 640], ["fast", 120.0, 0, 0, "fixed", True], [330, 230])
    g.add(styl, "PatchToonStylize", [1510, 640], [4, 0], [320, 130])
    g.add(save, "SaveAnimatedWEBP", [1870, 640], [f"patch_toon/{label}", 15.0, True, 90, "default"], [420, 460])
    g.add(model, "PatchToonSaveModel", [1510, 820], [f"{label}_style"], [320, 80])
    g.link(image_id, 0, preview, "images")
    g.link(image_id, 0, split, "sheet")
    g.link(1, 0, split, "frames")
    g.link(sheet_id, 1, split, "indices")
    g.link(1, 0, keys, "frames")
    g.link(split, 0, keys, "stylized")
    g.link(split, 1, keys, "indices")
    g.link(1, 0, train, "frames")
    g.link(keys, 0, train, "keyframes")
    g.link(train, 0, styl, "model")
    g.link(1, 0, styl, "frames")
    g.link(styl, 0, save, "images")
    g.link(train, 0, model, "model")


def sheet_start(g):
    """Load Frames (node 1) -> Make Keyframe Sheet (node 2) -> Preview Image (node 3)."""
    g.add(1, "PatchToonLoadFrames", [40, 80], [SAMPLE_FRAMES, 0, 0, 1, 0], [330, 180])
    g.add(2, "PatchToonMakeKeyframeSheet", [40, 320], ["0, 14, 31", 1024], [330, 110])
    g.add(3, "PreviewImage", [40, 480], None, [330, 330], "Keyframe sheet")
    g.link(1, 0, 2, "frames")
    g.link(2, 0, 3, "images")


class Graph:
    def __init__(self, info):
        self.info, self.nodes, self.links = info, {}, []

    def add(self, nid, type_, pos, widgets=None, size=None, title=None, converted=()):
        if type_ == "Note":
            node = {"id": nid, "type": "Note", "pos": pos, "size": size or [420, 200], "flags": {}, "order": 0,
                    "mode": 0, "properties": {"text": ""}, "widgets_values": widgets, "color": "#432",
                    "bgcolor": "#653"}
            self.nodes[nid] = node
            return node
        info = self.info[type_]
        inputs = []
        for group in ("required", "optional"):
            for name, spec in (info["input"].get(group) or {}).items():
                kind = spec[0]
                is_widget = isinstance(kind, list) or kind in WIDGET_TYPES
                if not is_widget:
                    inputs.append({"name": name, "type": kind, "link": None})
                elif name in converted:
                    inputs.append({"name": name, "type": kind, "link": None,
                                   "widget": {"name": name, "config": spec}})
        outputs = [{"name": n, "type": t, "links": [], "shape": 3, "slot_index": i}
                   for i, (n, t) in enumerate(zip(info["output_name"], info["output"]))]
        node = {"id": nid, "type": type_, "pos": pos, "size": size or [320, 130], "flags": {}, "order": 0,
                "mode": 0, "inputs": inputs, "outputs": outputs,
                "properties": {"Node name for S&R": type_}}
        if widgets is not None:
            node["widgets_values"] = widgets
        if title:
            node["title"] = title
        if not inputs:
            del node["inputs"]
        self.nodes[nid] = node
        return node

    def link(self, src, slot, dst, name):
        lid = len(self.links) + 1
        out = self.nodes[src]["outputs"][slot]
        target = self.nodes[dst]
        index = next(i for i, s in enumerate(target["inputs"]) if s["name"] == name)
        target["inputs"][index]["link"] = lid
        out["links"].append(lid)
        self.links.append([lid, src, slot, dst, index, out["type"]])

    def save(self, path, models=()):
        # order: a topological order as the page computes it
        order, seen = [], set()
        def visit(n):
            if n in seen:
                return
            seen.add(n)
            for s in self.nodes[n].get("inputs", []):
                if s["link"] is not None:
                    visit(next(l[1] for l in self.links if l[0] == s["link"]))
            order.append(n)
        for n in sorted(self.nodes):
            visit(n)
        for i, n in enumerate(order):
            self.nodes[n]["order"] = i
        for n in self.nodes.values():
            for o in n.get("outputs", []):
                if not o["links"]:
                    o["links"] = None if False else []
        wf = {"last_node_id": max(self.nodes), "last_link_id": len(self.links),
              "nodes": [self.nodes[k] for k in sorted(self.nodes)], "links": self.links, "groups": [],
              "config": {}, "extra": {"ds": {"scale": 0.8, "offset": [0, 0]}}, "version": 0.4}
        if models:
            wf["models"] = list(models)
        Path(path).write_text(json.dumps(wf, indent=2) + "\n")


def build(info, out):
    # 1 ------------------------------------------------------------------ train and stylize the sample
    g = Graph(info)
    g.add(1, "PatchToonLoadFrames", [40, 80], [SAMPLE_FRAMES, 0, 0, 1, 0], [330, 180], "Load Frames (the clip)")
    g.add(2, "PatchToonLoadFrames", [40, 330], [SAMPLE_KEYS, 0, 0, 1, 0], [330, 180], "Load Frames (stylized keyframes)")
    g.add(3, "PatchToonMakeKeyframes", [420, 330], ["0, 14, 31", "auto"], [320, 120])
    g.add(4, "PatchToonTrain", [790, 80], ["fast", 60.0, 0, 0, "fixed", True], [330, 230])
    g.add(5, "PatchToonStylize", [1170, 80], [4, 0], [320, 130])
    g.add(6, "SaveAnimatedWEBP", [1540, 80], ["patch_toon/sample", 15.0, True, 90, "default"], [420, 460])
    g.add(7, "PatchToonSaveModel", [1170, 260], ["sample_style"], [320, 80])
    g.add(8, "PreviewImage", [1170, 400], None, [320, 340], "Training preview")
    g.add(10, "PatchToonGuides", [420, 500], ["auto", 0, "fixed", "fast", True], [320, 200])
    g.add(11, "PreviewImage", [420, 740], None, [320, 320], "Gaussian guide")
    g.add(12, "PreviewImage", [1540, 580], None, [420, 240], "Whole clip (strip)")
    g.add(9, "Note", [40, 580], ["Train on the bundled sample and stylize it.\n\n"
        "The sample clip has 32 frames; frames 0, 14 and 31 were stylized by hand (the second Load Frames). "
        "Make Keyframes pairs each stylized image with its frame number, in the same order. Compute Guides "
        "follows the motion of the clip (coloured blobs carried from the keyframes, edges): they keep the style "
        "on the right places and steady over time; with guides 'auto' it reads the keyframes to choose them (a "
        "style fixed on the page, such as hatching or paper grain, gets the 'page' guide too) and its text says "
        "what it chose and why. Train Patch Model learns the style for 60 seconds (raise "
        "'seconds' for finer detail), then Stylize Frames applies it to every frame. The animation goes to "
        "output/patch_toon/, the model to models/patch_toon/ (Load Patch Model stylizes this clip with it again; "
        "or from the command line: python -m patch_training stylize).\n\n"
        "Edit a keyframe (or add one) and queue again: with warm_start on, training continues from the model it "
        "made last time and its monitor shows the whole clip (the strip) catching up within seconds; press "
        "Finish now when it looks right."],
        [340, 560])
    g.link(1, 0, 3, "frames")
    g.link(2, 0, 3, "stylized")
    g.link(1, 0, 10, "frames")
    g.link(3, 0, 10, "keyframes")
    g.link(10, 1, 11, "images")
    g.link(1, 0, 4, "frames")
    g.link(3, 0, 4, "keyframes")
    g.link(10, 0, 4, "guides")
    g.link(4, 0, 5, "model")
    g.link(1, 0, 5, "frames")
    g.link(10, 0, 5, "guides")
    g.link(5, 0, 6, "images")
    g.link(4, 0, 7, "model")
    g.link(4, 1, 8, "images")
    g.link(4, 2, 12, "images")
    g.save(out / "train_and_stylize_sample.json")

    # 2 ------------------------------------------------------------------ stylize with a checkpoint
    g = Graph(info)
    g.add(1, "PatchToonLoadModel", [40, 80], [SAMPLE_MODEL], [360, 80])
    g.add(2, "PatchToonLoadFrames", [40, 220], [SAMPLE_FRAMES, 0, 0, 1, 0], [360, 180])
    g.add(3, "PatchToonStylize", [450, 80], [4, 0], [320, 130])
    g.add(4, "SaveAnimatedWEBP", [820, 80], ["patch_toon/stylized", 15.0, True, 90, "default"], [420, 460])
    g.add(5, "Note", [40, 460], ["Stylize a clip with a saved style model.\n\n"
        "As shipped it runs at once: '[patch-toon sample] style' is the bundled sample's style, trained for "
        "3000 steps on its three keyframes, and it stylizes the sample clip. Load Patch Model also lists "
        "models/patch_toon/: models saved by Save Patch Model (train_and_stylize_sample saves "
        "sample_style_00001_.safetensors) or trained on the command line "
        "(patch-toon train ... --out ComfyUI/models/patch_toon/my_style.safetensors). "
        "A model trained with guides stylizes the clip it was trained on: Stylize Frames rebuilds its guides from "
        "the settings stored in the model. A model trained without guides (command line: --guides rgb) "
        "stylizes any clip: pick yours in Load Frames (a folder of frames or a video in ComfyUI's input folder)."],
        [700, 200])
    g.link(1, 0, 3, "model")
    g.link(2, 0, 3, "frames")
    g.link(3, 0, 4, "images")
    g.save(out / "stylize_with_checkpoint.json")

    # 4 ------------------------------------------------------------------ a long clip, file to file
    g = Graph(info)
    g.add(1, "PatchToonLoadModel", [40, 80], [SAMPLE_MODEL], [360, 80])
    g.add(2, "PatchToonStylizeFile", [450, 80], [SAMPLE_FRAMES, "patch_toon/video", "mp4 + png frames", 0.0, 4, 4, 0,
                                                 "", ""], [360, 600])
    g.add(3, "PreviewImage", [860, 80], None, [420, 420], "A few stylized frames")
    g.add(4, "Note", [40, 400], ["Stylize a long clip, straight from file to file.\n\n"
        "Stylize Video File reads a video or a folder of frames from ComfyUI's input folder one frame at a time, "
        "rebuilds the model's guides as it goes and writes an MP4 and/or PNG frames to output/patch_toon/ (the "
        "MP4 is H.264 with the source's audio and this workflow inside, and plays on the node): the "
        "clip is never held in memory, so minutes of 1080p or 4K work (about 1.6 GB at 1080p, whatever the "
        "length). As shipped it stylizes the bundled sample with the bundled sample style. For your own footage: "
        "train a model on its keyframes (the command line streams long clips too: patch-toon train --frames "
        "clip.mp4 --keyframes keys/ --out ComfyUI/models/patch_toon/my_style.safetensors), pick it in Load Patch "
        "Model and pick the clip in Stylize Video File (or type its path, or connect Load Video's VIDEO on today's "
        "ComfyUI; its video output goes to Save Video). Cancel leaves nothing half-written."], [380, 330])
    g.link(1, 0, 2, "model")
    g.link(2, 0, 3, "images")
    g.save(out / "stylize_video_file.json")

    # 5 ------------------------------------------------------------------ which frames to stylize
    g = Graph(info)
    g.add(1, "PatchToonLoadFrames", [40, 80], [SAMPLE_FRAMES, 0, 0, 1, 0], [330, 180], "Load Frames (the clip)")
    g.add(2, "PatchToonSuggestKeyframes", [420, 80], [3, ""], [320, 110])
    g.add(3, "PatchToonSelectFrames", [790, 80], ["0"], [320, 80], converted=("indices",))
    g.add(4, "PreviewImage", [1160, 80], None, [420, 300], "Frames to stylize")
    g.add(5, "SaveImage", [1160, 430], ["patch_toon/to_stylize"], [420, 300])
    g.add(6, "Note", [40, 330], ["Which frames should be stylized?\n\n"
        "Suggest Keyframes reads the clip and picks the frames to stylize: one in every shot first, then where the "
        "clip changes most (new content entering, the camera moving far from the other keyframes). Select Frames "
        "takes its indices and picks those frames; Save Image writes them to output/patch_toon/ to be painted (by "
        "hand, or with a diffusion model as in diffusion_keyframes). Then load the painted frames and give Make "
        "Keyframes the same indices (connect Suggest Keyframes' indices output to it as well). "
        "Already have some stylized frames? List them in 'have' ('0, 31'): the node suggests the next best "
        "frames to add to them; 'count' is how many."], [700, 200])
    g.link(1, 0, 2, "frames")
    g.link(1, 0, 3, "images")
    g.link(2, 0, 3, "indices")
    g.link(3, 0, 4, "images")
    g.link(3, 0, 5, "images")
    g.save(out / "suggest_keyframes.json")

    # 3 ------------------------------------------------------------------ diffusion keyframes
    g = Graph(info)
    g.add(1, "PatchToonLoadFrames", [40, 80], [SAMPLE_FRAMES, 0, 0, 1, 512], [330, 180])
    g.add(2, "PatchToonSelectFrames", [40, 320], ["0, 14, 31"], [330, 80])
    g.add(3, "CheckpointLoaderSimple", [40, 460], [SD15["name"]], [330, 100])
    g.add(4, "CLIPTextEncode", [420, 380], ["a comic book ink drawing, bold black outlines, flat colours, "
                                            "halftone shading"], [380, 160], "Style prompt")
    g.add(5, "CLIPTextEncode", [420, 580], ["photo, blurry, noisy, text, watermark"], [380, 120], "Negative prompt")
    g.add(6, "VAEEncode", [420, 80], None, [210, 50])
    g.add(7, "KSampler", [850, 80], [42, "fixed", 10, 7.0, "dpmpp_2m", "karras", 0.55], [320, 260])
    g.add(8, "VAEDecode", [1210, 80], None, [210, 50])
    # align off: img2img keeps the frame's geometry (the VAE's crop to a multiple of 8 is undone by the resize),
    # and a denoise strong enough to repaint the layout would be refused by the registration as other content
    g.add(9, "PatchToonMakeKeyframes", [1210, 200], ["0, 14, 31", "off"], [320, 120], converted=("indices",))
    g.add(10, "PreviewImage", [1210, 380], None, [320, 300], "Stylized keyframes")
    g.add(11, "PatchToonTrain", [1580, 80], ["fast", 60.0, 0, 0, "fixed", True], [330, 230])
    g.add(12, "PatchToonStylize", [1960, 80], [4, 0], [320, 130])
    g.add(13, "SaveAnimatedWEBP", [2330, 80], ["patch_toon/diffusion", 15.0, True, 90, "default"], [420, 460])
    g.add(14, "PatchToonSaveModel", [1960, 260], ["diffusion_style"], [320, 80])
    g.add(15, "Note", [40, 720], ["Keyframes stylized by a diffusion model, then propagated to every frame.\n\n"
        "Select Frames picks frames 0, 14 and 31; the checkpoint restyles them (img2img: denoise 0.55 keeps the "
        "layout, raise it for a stronger style). The VAE works on multiples of 8 pixels: Make Keyframes resizes the "
        "stylized keyframes back to the frame size and says so; its align is off, since img2img keeps the frame's "
        "layout (set it to auto for an image-edit model that shifts or crops). Train Patch Model learns that "
        "style, Stylize Frames applies it to all frames consistently. Needs an SD 1.5 checkpoint in models/checkpoints/ (pick yours in "
        "Load Checkpoint). The keyframes are sampled with different noise: if they disagree, train on fewer."],
        [760, 200])
    g.link(1, 0, 2, "images")
    g.link(2, 0, 6, "pixels")
    g.link(3, 2, 6, "vae")
    g.link(3, 1, 4, "clip")
    g.link(3, 1, 5, "clip")
    g.link(3, 0, 7, "model")
    g.link(4, 0, 7, "positive")
    g.link(5, 0, 7, "negative")
    g.link(6, 0, 7, "latent_image")
    g.link(7, 0, 8, "samples")
    g.link(3, 2, 8, "vae")
    g.link(1, 0, 9, "frames")
    g.link(8, 0, 9, "stylized")
    g.link(2, 1, 9, "indices")
    g.link(8, 0, 10, "images")
    g.link(1, 0, 11, "frames")
    g.link(9, 0, 11, "keyframes")
    g.link(11, 0, 12, "model")
    g.link(1, 0, 12, "frames")
    g.link(12, 0, 13, "images")
    g.link(11, 0, 14, "model")
    g.save(out / "diffusion_keyframes.json", models=[SD15])

    # 6 ------------------------------------------------------------------ a keyframe sheet through Flux Kontext
    g = Graph(today_info(info))
    sheet_start(g)
    g.add(4, "UNETLoader", [420, 80], [KONTEXT[0]["name"], "default"], [380, 90])
    g.add(5, "DualCLIPLoader", [420, 210], [KONTEXT[1]["name"], KONTEXT[2]["name"], "flux", "default"], [380, 140])
    g.add(6, "VAELoader", [420, 390], [KONTEXT[3]["name"]], [380, 60])
    g.add(7, "CLIPTextEncode", [850, 80], [SHEET_PROMPT], [400, 200], "Style prompt")
    g.add(8, "ConditioningZeroOut", [850, 320], None, [240, 30])
    g.add(9, "VAEEncode", [850, 400], None, [210, 50])
    g.add(10, "ReferenceLatent", [1290, 80], None, [210, 50])
    g.add(11, "FluxGuidance", [1290, 180], [2.5], [240, 60])
    g.add(12, "KSampler", [1290, 300], [42, "fixed", 20, 1.0, "euler", "simple", 1.0], [320, 260])
    g.add(13, "VAEDecode", [1660, 80], None, [210, 50])
    g.add(21, "Note", [40, 860], ["Keyframes stylized together by Flux Kontext, then propagated to every frame." + SHEET_NOTE +
        "\n\nNeeds FLUX.1 Kontext [dev] (models/diffusion_models/), its two text encoders (models/text_encoders/) and "
        "the Flux VAE (models/vae/): today's ComfyUI names the files in its missing-models dialog. The sheet goes to "
        "the model at its own size (a multiple of 32, about 1 megapixel); FluxKontextImageScale is left out because "
        "it crops the sheet to one of its preferred aspect ratios, which moves the tiles."], [760, 260])
    g.link(4, 0, 12, "model")
    g.link(5, 0, 7, "clip")
    g.link(7, 0, 8, "conditioning")
    g.link(2, 0, 9, "pixels")
    g.link(6, 0, 9, "vae")
    g.link(7, 0, 10, "conditioning")
    g.link(9, 0, 10, "latent")
    g.link(10, 0, 11, "conditioning")
    g.link(11, 0, 12, "positive")
    g.link(8, 0, 12, "negative")
    g.link(9, 0, 12, "latent_image")
    g.link(12, 0, 13, "samples")
    g.link(6, 0, 13, "vae")
    sheet_ends(g, 14, 2, 13, "kontext")
    g.save(out / "flux_kontext_keyframe_sheet.json", models=KONTEXT)

    # 7 ------------------------------------------------------------------ a keyframe sheet through Qwen-Image-Edit
    g = Graph(today_info(info))
    sheet_start(g)
    g.add(4, "UNETLoader", [420, 80], [QWEN_EDIT[0]["name"], "default"], [380, 90])
    g.add(5, "CLIPLoader", [420, 210], [QWEN_EDIT[1]["name"], "qwen_image", "default"], [380, 110])
    g.add(6, "VAELoader", [420, 360], [QWEN_EDIT[2]["name"]], [380, 60])
    g.add(7, "ModelSamplingAuraFlow", [850, 80], [3.0], [260, 60])
    g.add(8, "CFGNorm", [850, 180], [1.0], [260, 60])
    g.add(9, "TextEncodeQwenImageEdit", [850, 290], [SHEET_PROMPT], [400, 150], "Style prompt")
    g.add(10, "TextEncodeQwenImageEdit", [850, 480], [""], [400, 100], "Negative prompt")
    g.add(11, "VAEEncode", [1290, 80], None, [210, 50])
    g.add(12, "KSampler", [1290, 180], [42, "fixed", 20, 2.5, "euler", "simple", 1.0], [320, 260])
    g.add(13, "VAEDecode", [1660, 80], None, [210, 50])
    g.add(21, "Note", [40, 860], ["Keyframes stylized together by Qwen-Image-Edit, then propagated to every frame." +
        SHEET_NOTE + "\n\nNeeds Qwen-Image-Edit (models/diffusion_models/), its Qwen2.5-VL text encoder "
        "(models/text_encoders/) and the Qwen-Image VAE (models/vae/): today's ComfyUI names the files in its "
        "missing-models dialog. 20 steps at cfg 2.5, as ComfyUI's own Qwen-Image-Edit template runs it without the "
        "Lightning LoRA."], [760, 260])
    g.link(4, 0, 7, "model")
    g.link(7, 0, 8, "model")
    g.link(8, 0, 12, "model")
    for encoder in (9, 10):
        g.link(5, 0, encoder, "clip")
        g.link(6, 0, encoder, "vae")
        g.link(2, 0, encoder, "image")
    g.link(2, 0, 11, "pixels")
    g.link(6, 0, 11, "vae")
    g.link(9, 0, 12, "positive")
    g.link(10, 0, 12, "negative")
    g.link(11, 0, 12, "latent_image")
    g.link(12, 0, 13, "samples")
    g.link(6, 0, 13, "vae")
    sheet_ends(g, 14, 2, 13, "qwen_edit")
    g.save(out / "qwen_image_edit_keyframe_sheet.json", models=QWEN_EDIT)


if __name__ == "__main__":
    s = ComfyServer().start()
    try:
        build(s.object_info(), REPO / "example_workflows")
    finally:
        s.cleanup()
