"""Frame nodes: load a clip, suggest and pick frames, pair stylized images with their frames as keyframes."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import folder_paths

from patch_training.errors import PatchToonError
from patch_training.frames.sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES, FrameSource
from patch_training.frames.align import ALIGN_MODES, make_aligned_keyframes
from patch_training.frames.selection import SYNTAX, check_index_syntax, format_indices, parse_indices, read_frames
from patch_training.frames.suggest import suggest_keyframes
from ._common import PATCH_KEYFRAMES, ROOT, SAMPLE_DIR, count_reporter, log

SAMPLE_SOURCES = {"[patch-toon sample] frames": SAMPLE_DIR / "frames",
                  "[patch-toon sample] keyframes": SAMPLE_DIR / "keyframes"}
SKIPPED_FOLDERS = {"clipspace"}  # ComfyUI's mask editor scratch folder inside input/
SEARCH_DEPTH = 2  # folders below input/ searched for clips


def frame_sources() -> list[str]:
    """Clips in ComfyUI's input folder: sub-folders holding images ("name/"), video files; then the sample."""
    root = Path(folder_paths.get_input_directory())
    found: list[str] = []

    def scan(folder: Path, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        if folder != root and any(e.is_file() and Path(e.name).suffix.lower() in IMAGE_SUFFIXES for e in entries):
            found.append(folder.relative_to(root).as_posix() + "/")
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_file() and Path(entry.name).suffix.lower() in VIDEO_SUFFIXES:
                found.append(Path(entry.path).relative_to(root).as_posix())
            elif entry.is_dir() and depth < SEARCH_DEPTH and entry.name not in SKIPPED_FOLDERS:
                scan(Path(entry.path), depth + 1)

    scan(root, 0)
    return found + list(SAMPLE_SOURCES)


def source_path(source: str) -> Path:
    """The file or folder a `source` choice names (in ComfyUI's input folder, or the bundled sample)."""
    if source in SAMPLE_SOURCES:
        return SAMPLE_SOURCES[source]
    root = Path(folder_paths.get_input_directory()).resolve()
    path = (root / source).resolve()
    if root not in path.parents:
        raise PatchToonError(f"source: expected a folder or video inside ComfyUI's input folder, received {source!r}.")
    return path


def clip_path(source: str, path: str = "") -> Path:
    """The clip to read: `path` (anywhere on the server) when given, else the `source` choice."""
    return Path(path.strip()).expanduser() if path and path.strip() else source_path(source)


def check_path(path: str) -> str | bool:
    """VALIDATE_INPUTS of a `path` input: True, or what is wrong with it."""
    found = Path(path.strip()).expanduser()
    if not found.exists():
        return (f"path: expected a video file or a folder of frames on the server, received {path.strip()!r}, "
                f"which does not exist. Give its full path (or leave path empty to use source).")
    if not os.access(found, os.R_OK):
        return f"path: {path.strip()!r} exists but this ComfyUI server may not read it (file permissions)."
    return True


def check_source(source: str) -> str | bool:
    """VALIDATE_INPUTS of a `source` choice: True, or what is wrong with it."""
    try:
        path = source_path(source)
    except PatchToonError as error:
        return str(error)
    if not path.exists():
        return (f"source: {source!r} is not in ComfyUI's input folder ({folder_paths.get_input_directory()}). "
                f"Put a folder of frames or a video there and pick it again.")
    return True


class PatchToonLoadFrames:
    DESCRIPTION = ("Loads a clip as an IMAGE batch: a folder of images (in name order) or a video file from "
                   "ComfyUI's input folder, or the bundled sample. Connect to Select Frames, Make Keyframes, "
                   "Train Patch Model and Stylize Frames.")
    CATEGORY, FUNCTION = f"{ROOT}/frames", "load"
    SEARCH_ALIASES = ["load video", "video loader", "image sequence", "load images from folder", "frames folder",
                      "mp4"]
    RETURN_TYPES, RETURN_NAMES = ("IMAGE", "INT", "FLOAT"), ("frames", "count", "fps")  # new outputs go last
    OUTPUT_TOOLTIPS = ("The frames, [count, height, width, 3].", "How many frames were loaded.",
                       "Frames per second of what was loaded: the video's rate divided by every_nth (25 for a "
                       "folder of frames).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "source": (frame_sources(), {"video_upload": True,  # today's frontend: an upload button, as Load Video's
                                         "tooltip": "A folder of images (shown as 'name/') or a video file in "
                                                    "ComfyUI's input folder, or the bundled sample clip. Upload a "
                                                    "video, or put clips in input/ and refresh the page."}),
            "start": ("INT", {"default": 0, "min": 0, "max": 1_000_000, "tooltip": "First frame to load "
                                                                                   "(0 = the first frame of the clip)."}),
            "count": ("INT", {"default": 0, "min": 0, "max": 1_000_000, "tooltip": "How many frames to load at "
                                                                                   "most; 0 = all up to the end."}),
            "every_nth": ("INT", {"default": 1, "min": 1, "max": 1000, "tooltip": "Load every n-th frame "
                                                                                  "(1 = every frame, 2 = every other)."}),
            "max_side": ("INT", {"default": 0, "min": 0, "max": 16384, "step": 8,
                                 "tooltip": "Downscale frames whose longer side exceeds this many pixels, keeping "
                                            "the aspect ratio; 0 = original size. Smaller trains and stylizes faster."}),
        }}

    @classmethod
    def IS_CHANGED(cls, source, **_):
        # A folder's content can change under the same name: fingerprint the names, sizes and times.
        try:
            path = source_path(source)
            files = sorted(path.iterdir()) if path.is_dir() else [path]
            stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.is_file()]
        except (OSError, PatchToonError):
            return float("nan")  # let the node run and report the problem
        return hashlib.sha256(repr(stats).encode()).hexdigest()

    @classmethod
    def VALIDATE_INPUTS(cls, source):
        return check_source(source)

    def load(self, source, start, count, every_nth, max_side):
        path = source_path(source)
        frames, _names = read_frames(path, start, count, every_nth, max_side, what="source")
        return (frames, frames.shape[0], (FrameSource(path, "source").fps or 25.0) / every_nth)


class PatchToonSelectFrames:
    DESCRIPTION = ("Picks frames from an IMAGE batch by number, to stylize them elsewhere (a diffusion img2img, an "
                   "upscaler, a painting). Connect its indices to Make Keyframes.")
    CATEGORY, FUNCTION = f"{ROOT}/frames", "select"
    SEARCH_ALIASES = ["pick frames", "frames by index", "frame range", "select images from batch", "keyframes"]
    RETURN_TYPES, RETURN_NAMES = ("IMAGE", "STRING"), ("frames", "indices")
    OUTPUT_TOOLTIPS = ("The picked frames, in the order of indices.",
                       "The frame numbers picked, e.g. '0, 24, 48'; connect to Make Keyframes' indices.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE", {"tooltip": "The clip's frames (from Load Frames or any IMAGE batch)."}),
            "indices": ("STRING", {"default": "0", "tooltip": f"Which frames, 0-based: {SYNTAX}."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, indices):
        return _index_syntax(indices)

    def select(self, images, indices):
        picked = parse_indices(indices, images.shape[0], "indices")
        return (images[picked], format_indices(picked))


class PatchToonSuggestKeyframes:
    DESCRIPTION = ("Suggests which frames to stylize: one in every shot first, then where the clip changes most "
                   "(new content entering, the camera moving far from the other keyframes). Connect its indices "
                   "to Select Frames' indices (and later to Make Keyframes').")
    CATEGORY, FUNCTION = f"{ROOT}/frames", "suggest"
    SEARCH_ALIASES = ["keyframe selection", "pick keyframes", "which frames to paint", "shot detection",
                      "scene cut"]
    RETURN_TYPES, RETURN_NAMES = ("STRING", "IMAGE"), ("indices", "frames")
    OUTPUT_TOOLTIPS = ("The suggested frame numbers, ascending, e.g. '5, 17, 28': connect to Select Frames' "
                       "indices.", "The suggested frames, for a look.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "frames": ("IMAGE", {"tooltip": "The whole clip (from Load Frames or any IMAGE batch), as it will be "
                                            "given to training."}),
            "count": ("INT", {"default": 3, "min": 1, "max": 10_000, "tooltip": "How many frames to suggest (new "
                                                                              "ones, besides those in have)."}),
        }, "optional": {
            "have": ("STRING", {"default": "", "tooltip": "Frames already stylized, 0-based "
                                                          f"({SYNTAX}); empty = none. They are never suggested: the "
                                                          "suggestion is the next best frames to add to them."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, have=None):
        return True if not have or not have.strip() else _index_syntax(have, "have")

    def suggest(self, frames, count, have=""):
        result = suggest_keyframes(frames, count, have or "", on_progress=count_reporter(frames.shape[0]))
        for note in result.notes:
            log.warning("patch-toon Suggest Keyframes: %s", note)
        text = [f"suggested frames {result.select_frames} of {result.frame_count} ({len(result.shots)} shot"
                f"{'s' if len(result.shots) > 1 else ''})", *result.notes]
        return {"ui": {"text": text}, "result": (result.select_frames, frames[result.indices])}


class PatchToonMakeKeyframes:
    DESCRIPTION = ("Pairs stylized images with the frames they stylize, for Train Patch Model. With align auto "
                   "(the default) each stylized image is first registered to its frame: the shift, zoom, stretch "
                   "or crop an image-edit model gave it is undone, and the node says what it did per keyframe. "
                   "With align off, images of another resolution but the frames' aspect ratio are resized to "
                   "the frame size.")
    CATEGORY, FUNCTION = f"{ROOT}/frames", "make"
    SEARCH_ALIASES = ["keyframes", "stylized keyframes", "style reference", "pair images with frames",
                      "keyframe mask"]
    RETURN_TYPES, RETURN_NAMES = (PATCH_KEYFRAMES,), ("keyframes",)
    OUTPUT_TOOLTIPS = ("Keyframes: frame numbers, stylized images at the frame size, optional masks.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "frames": ("IMAGE", {"tooltip": "The whole clip, as given to Train Patch Model: the indices point into it."}),
            "stylized": ("IMAGE", {"tooltip": "The stylized keyframes, one image per index, in the order of "
                                              "indices (batch several Load Image outputs with Batch Images)."}),
            "indices": ("STRING", {"default": "0", "tooltip": "The frame each stylized image belongs to, in the "
                                                              f"same order ({SYNTAX}). Connect Select Frames' indices."}),
        }, "optional": {
            "mask": ("MASK", {"tooltip": "Optional: where each stylized image is valid (1 = learn from here). One "
                                         "mask per keyframe, or one for all. Leave empty to learn from whole images."}),
            "align": (list(ALIGN_MODES), {"default": "auto", "tooltip": "auto: register each stylized image to its "
                                          "frame first: the shift, zoom, rotation, stretch or crop an image-edit "
                                          "model gave it is undone (the text output says what was done), the "
                                          "border left uncovered is not learned from, and an image that shows "
                                          "other content is refused. off: use the images as given."}),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, indices):
        return _index_syntax(indices)

    def make(self, frames, stylized, indices, mask=None, align="auto"):
        picked = parse_indices(indices, frames.shape[0], "indices")
        if mask is not None and mask.ndim == 3 and mask.shape[0] == 1 and len(picked) > 1:
            mask = mask.expand(len(picked), -1, -1)  # one mask drawn for all keyframes
        keyframes, notes = make_aligned_keyframes(picked, stylized, mask, frames, align)
        for note in notes:
            log.info("patch-toon Make Keyframes: %s", note)
        return {"ui": {"text": notes}, "result": (keyframes,)} if notes else (keyframes,)


def _index_syntax(indices, name="indices"):
    if indices is None:  # linked from another node: checked when it runs
        return True
    try:
        check_index_syntax(indices, name)
    except PatchToonError as error:
        return str(error)
    return True
