"""Writes example_workflows/*.json in the UI format that ComfyUI's 2024 (LiteGraph) page saves.

Developers: `.venv/bin/python tools/build_workflows.py` (after `make test` has set up the test host). It
starts the test ComfyUI server to read the nodes' inputs from /object_info, so the files match the nodes.
"""
import json, sys
from pathlib import Path

from repo import REPO  # first: the repository root on sys.path

sys.path.insert(0, str(REPO / "tests"))
from comfy_host import ComfyServer
from comfy_host.workflow import WIDGET_TYPES

SAMPLE_FRAMES, SAMPLE_KEYS = "[patch-toon sample] frames", "[patch-toon sample] keyframes"
SAMPLE_MODEL = "[patch-toon sample] style"
# The SD 1.5 checkpoint of diffusion_keyframes, as ComfyUI's own SD 1.5 templates name it. Its `models` entry
# (top-level key of today's workflow format: name, url, directory) feeds today's missing-models dialog; the URL is
# for the user to follow, nothing downloads it. The 2024 page ignores the key.
SD15 = {"name": "v1-5-pruned-emaonly-fp16.safetensors", "directory": "checkpoints",
        "url": "https://huggingface.co/Comfy-Org/stable-diffusion-v1-5-archive/resolve/main/"
               "v1-5-pruned-emaonly-fp16.safetensors?download=true"}


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
    g.add(10, "PatchToonGuides", [420, 500], ["gauss, edges", 0, "fixed", "fast", True], [320, 200])
    g.add(11, "PreviewImage", [420, 740], None, [320, 320], "Gaussian guide")
    g.add(12, "PreviewImage", [1540, 580], None, [420, 240], "Whole clip (strip)")
    g.add(9, "Note", [40, 580], ["Train on the bundled sample and stylize it.\n\n"
        "The sample clip has 32 frames; frames 0, 14 and 31 were stylized by hand (the second Load Frames). "
        "Make Keyframes pairs each stylized image with its frame number, in the same order. Compute Guides "
        "follows the motion of the clip (coloured blobs carried from the keyframes, edges): they keep the style "
        "on the right places and steady over time. Train Patch Model learns the style for 60 seconds (raise "
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
    g.add(2, "PatchToonStylizeFile", [450, 80], [SAMPLE_FRAMES, "patch_toon/video", "mp4 + png frames", 0.0, 4, 4, 0],
          [360, 270])
    g.add(3, "PreviewImage", [860, 80], None, [420, 420], "A few stylized frames")
    g.add(4, "Note", [40, 400], ["Stylize a long clip, straight from file to file.\n\n"
        "Stylize Video File reads a video or a folder of frames from ComfyUI's input folder one frame at a time, "
        "rebuilds the model's guides as it goes and writes an MP4 and/or PNG frames to output/patch_toon/: the "
        "clip is never held in memory, so minutes of 1080p or 4K work (about 1.6 GB at 1080p, whatever the "
        "length). As shipped it stylizes the bundled sample with the bundled sample style. For your own footage: "
        "train a model on its keyframes (the command line streams long clips too: patch-toon train --frames "
        "clip.mp4 --keyframes keys/ --out ComfyUI/models/patch_toon/my_style.safetensors), pick it in Load Patch "
        "Model and pick the clip in Stylize Video File. Cancel leaves nothing half-written."], [380, 300])
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
    g.add(7, "KSampler", [850, 80], [42, "fixed", 20, 7.0, "euler_ancestral", "normal", 0.55], [320, 260])
    g.add(8, "VAEDecode", [1210, 80], None, [210, 50])
    g.add(9, "PatchToonMakeKeyframes", [1210, 200], ["0, 14, 31", "auto"], [320, 120], converted=("indices",))
    g.add(10, "PreviewImage", [1210, 380], None, [320, 300], "Stylized keyframes")
    g.add(11, "PatchToonTrain", [1580, 80], ["fast", 120.0, 0, 0, "fixed", True], [330, 230])
    g.add(12, "PatchToonStylize", [1960, 80], [4, 0], [320, 130])
    g.add(13, "SaveAnimatedWEBP", [2330, 80], ["patch_toon/diffusion", 15.0, True, 90, "default"], [420, 460])
    g.add(14, "PatchToonSaveModel", [1960, 260], ["diffusion_style"], [320, 80])
    g.add(15, "Note", [40, 720], ["Keyframes stylized by a diffusion model, then propagated to every frame.\n\n"
        "Select Frames picks frames 0, 14 and 31; the checkpoint restyles them (img2img: denoise 0.55 keeps the "
        "layout, raise it for a stronger style). The VAE works on multiples of 8 pixels: Make Keyframes resizes the "
        "stylized keyframes back to the frame size and says so. Train Patch Model learns that style, Stylize Frames "
        "applies it to all frames consistently. Needs an SD 1.5 checkpoint in models/checkpoints/ (pick yours in "
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


if __name__ == "__main__":
    s = ComfyServer().start()
    try:
        build(s.object_info(), REPO / "example_workflows")
    finally:
        s.cleanup()
