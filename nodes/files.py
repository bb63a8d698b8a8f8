"""File-to-file nodes: stylize a clip of any length (from ComfyUI's input folder, a path, or a VIDEO) straight to
output/, streaming."""
from __future__ import annotations

import os

import folder_paths
import torch

from patch_training.config import StylizeOptions
from patch_training.frames.selection import strip_indices
from patch_training.frames.sources import FrameSource
from patch_training.frames.writers import FrameWriter
from patch_training.memory import inference_bytes
from pathlib import Path

from patch_training.pipeline.render_record import RECORD_NAME
from patch_training.pipeline.stylize_files import output_writer, stylize_files, update_files
from ._common import (METHOD_ALIASES, PATCH_KEYFRAMES, PATCH_MODEL, ROOT, compute_device, count_reporter, log,
                      make_room, release)
from .frames import check_path, check_source, clip_path, frame_sources
from .video import VIDEO, video_input_file, video_output, video_preview, workflow_metadata

OUTPUTS = ("mp4", "png frames", "mp4 + png frames")


class PatchToonStylizeFile:
    DESCRIPTION = ("Stylizes a whole clip (a video or a folder of frames from ComfyUI's input folder, a path on the "
                   "server, or a VIDEO from Load Video) straight to output/, as an MP4 and/or PNG frames, streaming: "
                   "the clip is never held in memory, so it takes minutes of 1080p or 4K. The MP4 is H.264 (plays "
                   "in the browser and on the node), with the source's audio and the workflow, where PyAV is "
                   "installed (today's ComfyUI has it), else OpenCV's mp4v, which browsers cannot play (the node "
                   "says so). A guided model rebuilds its guides as it goes (the clip it was trained on). Cancel "
                   "leaves nothing behind. The preview output shows a few stylized frames.")
    CATEGORY, FUNCTION = f"{ROOT}/stylize", "stylize"  # the node id is unchanged: saved workflows load
    SEARCH_ALIASES = [*METHOD_ALIASES, "stylize video file", "long video", "mp4", "video to video", "stream"]
    RETURN_TYPES, RETURN_NAMES = ("IMAGE", "STRING", VIDEO), ("preview", "path", "video")
    OUTPUT_TOOLTIPS = ("A few stylized frames spread evenly over the clip.",
                       "Where the result was written (in ComfyUI's output folder).",
                       "The written MP4 as core's VIDEO, for Save Video or other video nodes (ComfyUI of mid 2025 "
                       "on; empty when output is 'png frames').")
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
            "output": (list(OUTPUTS), {"tooltip": "An MP4 video (H.264 with the source's audio and the workflow; "
                                                  "OpenCV's mp4v where PyAV is missing), a folder of PNG frames "
                                                  "(lossless, named like the source frames), or both."}),
            "fps": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 240.0, "step": 0.5, "tooltip": "Frame rate of "
                              "the MP4; 0 = the source video's (25 for a folder of frames). Another rate than the "
                              "source's changes its speed, so its audio is left out."}),
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
            "path": ("STRING", {"default": "", "tooltip": "A video file or a folder of frames anywhere on the "
                                                          "server (an absolute path); used instead of source when "
                                                          "not empty."}),
            "video": (VIDEO, {"tooltip": "Core's VIDEO (Load Video, Create Video; ComfyUI of mid 2025 on): its "
                                         "frames, frame rate and audio, instead of source and path."}),
            "update_from": ("STRING", {"default": "", "tooltip": "After a keyframe edit: the PNG frames folder of an "
                                       "earlier result in the output folder (its path output, e.g. "
                                       "'patch_toon/video_00001_'). Only the frames whose output can change are "
                                       "stylized again, the others are taken from there (the result is the same "
                                       "as a full render); a new model re-renders all. The result is written "
                                       "under a new name as always; empty = a full render."}),
        }, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    @classmethod
    def VALIDATE_INPUTS(cls, source, filename_prefix, path="", update_from=""):
        checked = check_path(path) if path and path.strip() else check_source(source)
        if checked is not True:
            return checked
        if not filename_prefix.strip():
            return "filename_prefix: expected a name such as 'patch_toon/video', received an empty one."
        if update_from and update_from.strip() and not (previous_frames(update_from) / RECORD_NAME).is_file():
            return (f"update_from: expected the PNG frames folder of an earlier Stylize Video File result in the "
                    f"output folder (its path output, e.g. 'patch_toon/video_00001_'), received "
                    f"{update_from.strip()!r}: {previous_frames(update_from)} has no render record. Run with "
                    f"output 'png frames' or 'mp4 + png frames' first, or leave update_from empty.")
        return True

    def stylize(self, model, source, filename_prefix, output, fps, preview_frames, batch_size, tile, keyframes=None,
                path="", video=None, update_from="", prompt=None, extra_pnginfo=None):
        if video is not None:
            clip = FrameSource(video_input_file(video), "video")
        else:
            clip = FrameSource(clip_path(source, path), "path" if path and path.strip() else "source")
        total = len(clip)
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory(), clip.size[1], clip.size[0])
        stem = f"{name}_{counter:05}_"
        writers = []
        if output != "png frames":
            writers.append(output_writer(f"{folder}/{stem}.mp4", clip, fps, workflow_metadata(prompt, extra_pnginfo),
                                         what="filename_prefix"))
        if output != "mp4":
            writers.append(FrameWriter(f"{folder}/{stem}", what="filename_prefix"))
        wanted = set(strip_indices(total, preview_frames))
        preview = []
        device = compute_device()
        make_room(device, inference_bytes(model.config, 1, *clip.size, batch_size, tile), "stylizing")

        def keep(t, styled):
            if t in wanted:
                preview.append(styled)

        options, summary = StylizeOptions(batch_size, tile, device), None
        try:
            if update_from and update_from.strip():
                summary = update_files(model, clip, previous_frames(update_from), writers, options, keyframes,
                                       on_progress=count_reporter(total), on_frame=keep, what="update_from")
            else:
                stylize_files(model, clip, writers, options, keyframes, on_progress=count_reporter(total),
                              on_frame=keep, record=True)
        finally:
            release(device)
        paths = ", ".join(f"{subfolder}/{w.out.name}".lstrip("/") for w in writers)
        notes = [note for w in writers for note in w.notes]
        if summary is not None:
            notes.insert(0, summary.message())
        for note in notes:
            log.warning("patch-toon Stylize Video File: %s", note)
        ui = {"text": [f"wrote {paths} in the output folder", *notes]}
        mp4 = writers[0].out if writers[0].video else None
        if mp4 is not None and writers[0].codec == "h264":  # mp4v does not play in a browser: no player for it
            ui.update(video_preview(mp4.resolve()))
        result = (torch.stack(preview), paths, None if mp4 is None else video_output(mp4))
        return {"ui": ui, "result": result}


def previous_frames(update_from: str) -> Path:
    """The folder update_from names: relative to ComfyUI's output folder (the path output of an earlier run; of
    'mp4 + png frames', the frames folder), or an absolute path."""
    parts = [p.strip() for p in update_from.split(",") if p.strip()]
    folders = [p for p in parts if not p.lower().endswith(".mp4")] or parts
    return Path(os.path.join(folder_paths.get_output_directory(), os.path.expanduser(folders[0])))
