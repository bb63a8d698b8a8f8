"""ComfyUI's core VIDEO type (comfy_api, ComfyUI of mid 2025 on) in and out, the workflow tags a video carries, and
the `ui` payload that shows a video on the node. On the 2024 ComfyUI, which has no VIDEO type, none of it is used."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import folder_paths

from patch_training.errors import FramesError

VIDEO = "VIDEO"  # core's type name: LoadVideo, CreateVideo, SaveVideo


def _video_from_file():
    try:
        from comfy_api.input_impl import VideoFromFile
    except ImportError:  # ComfyUI before the VIDEO type (2024): the output stays None, unused
        return None
    return VideoFromFile


def video_output(path: Path):
    """The written file as core's VIDEO (a VideoFromFile) where this ComfyUI has the type, else None."""
    make = _video_from_file()
    return None if make is None else make(str(path))


def video_input_file(video) -> Path:
    """The file to read a connected VIDEO from: Load Video's own file, or else the MP4 that the VIDEO's save_to()
    writes into ComfyUI's temp folder (a VIDEO made of frames by Create Video, a part of a file, a file held in
    memory). Raises FramesError when the object is no VIDEO."""
    from_file = _video_from_file()
    trim = getattr(video, "get_active_trim_window", lambda: (0.0, 0.0))()  # a part of the file (Video Slice)
    if (from_file is not None and isinstance(video, from_file) and hasattr(video, "get_stream_source")
            and not any(trim)):
        # Only a VideoFromFile's: the base class's get_stream_source() encodes into memory with no container
        # format, which ComfyUI 0.8.0's PyAV refuses ("Could not determine output format").
        found = video.get_stream_source()
        if isinstance(found, (str, os.PathLike)):
            return Path(found)
    if not hasattr(video, "save_to"):
        raise FramesError(f"video: expected core's VIDEO (from Load Video or Create Video), received "
                          f"{type(video).__name__}.")
    temp = Path(folder_paths.get_temp_directory()) / "patch_toon"
    temp.mkdir(parents=True, exist_ok=True)
    path = temp / f"video_input_{uuid.uuid4().hex[:12]}.mp4"
    video.save_to(str(path))
    return path


def workflow_metadata(prompt, extra_pnginfo) -> dict | None:
    """The tags core's Save Video writes into a video: extra_pnginfo's keys (the workflow) and the prompt; None
    under --disable-metadata."""
    from comfy.cli_args import args

    if args.disable_metadata:
        return None
    metadata = dict(extra_pnginfo or {})
    if prompt is not None:
        metadata["prompt"] = prompt
    return metadata or None


def video_preview(path: Path) -> dict:
    """The `ui` entries that show a video file of the output folder on the node: today's frontend plays
    `images` marked `animated` as a video (core's Save Video sends the same); on the 2024 frontend,
    web/video_preview.js plays it."""
    relative = path.parent.relative_to(Path(folder_paths.get_output_directory()).resolve())
    subfolder = "" if str(relative) == "." else relative.as_posix()
    return {"images": [{"filename": path.name, "subfolder": subfolder, "type": "output"}], "animated": (True,)}
