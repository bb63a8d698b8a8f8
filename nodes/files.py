"""File-to-file nodes: stylize a clip of any length from ComfyUI's input folder straight to output/, streaming."""
from __future__ import annotations

import folder_paths
import torch

from patch_training.config import StylizeOptions
from patch_training.frames.selection import strip_indices
from patch_training.frames.sources import FrameSource
from patch_training.frames.writers import FrameWriter
from patch_training.memory import inference_bytes
from patch_training.pipeline.stylize_files import stylize_files
from ._common import (METHOD_ALIASES, PATCH_KEYFRAMES, PATCH_MODEL, ROOT, compute_device, count_reporter,
                      make_room, release)
from .frames import check_source, frame_sources, source_path

OUTPUTS = ("mp4", "png frames", "mp4 + png frames")


class PatchToonStylizeFile:
    DESCRIPTION = ("Stylizes a whole clip from ComfyUI's input folder (a video or a folder of frames) straight to "
                   "output/, as an MP4 and/or PNG frames, streaming: the clip is never held in memory, so it takes "
                   "minutes of 1080p or 4K. A guided model rebuilds its guides as it goes (the clip it was trained "
                   "on). Cancel leaves nothing behind. The preview output shows a few stylized frames.")
    CATEGORY, FUNCTION = f"{ROOT}/stylize", "stylize"  # the node id is unchanged: saved workflows load
    SEARCH_ALIASES = [*METHOD_ALIASES, "stylize video file", "long video", "mp4", "video to video", "stream"]
    RETURN_TYPES, RETURN_NAMES = ("IMAGE", "STRING"), ("preview", "path")
    OUTPUT_TOOLTIPS = ("A few stylized frames spread evenly over the clip.",
                       "Where the result was written (in ComfyUI's output folder).")
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (PATCH_MODEL, {"tooltip": "A style model from Train Patch Model or Load Patch Model."}),
            "source": (frame_sources(), {"tooltip": "The clip: a video file or a folder of images (shown as "
                                                    "'name/') in ComfyUI's input folder, or the bundled sample. "
                                                    "Read frame by frame, never all at once."}),
            "filename_prefix": ("STRING", {"default": "patch_toon/video", "tooltip": "Name of the result in the "
                                           "output folder; a number is added, nothing is ever replaced."}),
            "output": (list(OUTPUTS), {"tooltip": "An MP4 video (mp4v), a folder of PNG frames (lossless, named "
                                                  "like the source frames), or both."}),
            "fps": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 240.0, "step": 0.5, "tooltip": "Frame rate of "
                              "the MP4; 0 = the source video's (25 for a folder of frames)."}),
            "preview_frames": ("INT", {"default": 4, "min": 1, "max": 16, "tooltip": "How many stylized frames "
                                       "(evenly spaced) come out as the preview IMAGE."}),
            "batch_size": ("INT", {"default": 4, "min": 1, "max": 256, "tooltip": "Frames per forward pass (at "
                                   "most about a megapixel of frames); does not change the result."}),
            "tile": ("INT", {"default": 0, "min": 0, "max": 8192, "step": 64, "tooltip": "Frames larger than this "
                             "many pixels a side are stylized in overlapping tiles; smaller uses less memory, the "
                             "result is the same. 0 = by network."}),
        }, "optional": {
            "keyframes": (PATCH_KEYFRAMES, {"tooltip": "Only for a model trained with the 'warp' or 'page' guide: the "
                                                       "stylized keyframes it was trained with."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, source, filename_prefix):
        checked = check_source(source)
        if checked is not True:
            return checked
        if not filename_prefix.strip():
            return "filename_prefix: expected a name such as 'patch_toon/video', received an empty one."
        return True

    def stylize(self, model, source, filename_prefix, output, fps, preview_frames, batch_size, tile, keyframes=None):
        clip = FrameSource(source_path(source), "source")
        total = len(clip)
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory(), clip.size[1], clip.size[0])
        stem = f"{name}_{counter:05}_"
        writers = []
        if output != "png frames":
            writers.append(FrameWriter(f"{folder}/{stem}.mp4", fps or clip.fps or 25.0, what="filename_prefix"))
        if output != "mp4":
            writers.append(FrameWriter(f"{folder}/{stem}", what="filename_prefix"))
        wanted = set(strip_indices(total, preview_frames))
        preview = []
        device = compute_device()
        make_room(device, inference_bytes(model.config, 1, *clip.size, batch_size, tile), "stylizing")
        try:
            stylize_files(model, clip, writers, StylizeOptions(batch_size, tile, device), keyframes,
                          on_progress=count_reporter(total),
                          on_frame=lambda t, styled: preview.append(styled) if t in wanted else None)
        finally:
            release(device)
        paths = ", ".join(f"{subfolder}/{w.out.name}".lstrip("/") for w in writers)
        return {"ui": {"text": [f"wrote {paths} in the output folder"]}, "result": (torch.stack(preview), paths)}
