"""Glue shared by the nodes: custom type names, the models folder, device and memory, progress reporting."""
from __future__ import annotations

import base64
import ctypes
import sys
import io
import logging
import os
from pathlib import Path
from typing import Callable

import comfy.model_management as model_management
import comfy.utils
import folder_paths
import torch
from PIL import Image
from server import PromptServer

from patch_training.frames.sources import to_uint8
from patch_training.runtime import GPU_TYPES
from patch_training.train.progress import TrainProgress

from .routes import thumbnails_wanted

log = logging.getLogger("patch_toon")

PATCH_MODEL, PATCH_KEYFRAMES, PATCH_GUIDES = "PATCH_MODEL", "PATCH_KEYFRAMES", "PATCH_GUIDES"
ROOT = "patch-toon"
# SEARCH_ALIASES (a class attribute, a list of strings): more words the node search box finds a node by. Newer
# ComfyUI servers send it in /object_info as `search_aliases` (getattr(cls, "SEARCH_ALIASES", [])); the 2024
# server ignores it. The method's other names, for the nodes that are the method (train, stylize):
METHOD_ALIASES = ["ebsynth", "style transfer", "video stylization", "few-shot", "texler"]
PACK_DIR = Path(__file__).resolve().parents[1]
SAMPLE_DIR = PACK_DIR / "example_workflows" / "assets" / "sample"
MODELS_FOLDER = "patch_toon"  # models/patch_toon/, and the key in extra_model_paths.yaml
MODEL_EXTENSIONS = {".safetensors"}
PROGRESS_EVENT = "patch_toon.progress"  # read by web/training_monitor.js
STRIP_THUMB_SIDE = 128  # px, the longer side of each of the strip's thumbnails in the monitor
BAR_STEPS = 1000  # the training bar shows the used fraction of the budget (time or steps) in 0.1 % steps


def register_models_folder() -> None:
    """Adds models/patch_toon/ to folder_paths, keeping folders already given by extra_model_paths.yaml.

    ComfyUI reads extra_model_paths.yaml before it imports custom nodes; a `patch_toon:` entry there arrives
    first, with no extensions. The default folder goes first (saves land there), the yaml folders stay.
    """
    default = os.path.join(folder_paths.models_dir, MODELS_FOLDER)
    paths = list(folder_paths.folder_names_and_paths.get(MODELS_FOLDER, ([], set()))[0])
    if default not in paths:
        paths.insert(0, default)
    folder_paths.folder_names_and_paths[MODELS_FOLDER] = (paths, MODEL_EXTENSIONS)


def models_dir() -> str:
    """The folder Save Patch Model writes to: the first patch_toon folder (models/patch_toon/ by default)."""
    return folder_paths.get_folder_paths(MODELS_FOLDER)[0]


def compute_device() -> torch.device:
    """ComfyUI's compute device where the library runs on it (a CUDA, Intel xpu or Apple mps GPU), else the CPU
    (also under --cpu). An operation the xpu or mps GPU lacks makes the library run on the CPU, said in the log."""
    device = model_management.get_torch_device()
    if device.type in GPU_TYPES:
        return device
    if device.type != "cpu":
        log.warning("patch-toon: training and stylizing on the CPU: ComfyUI's device %s is not one the library "
                    "runs on (%s)", device, ", ".join(GPU_TYPES))
    return torch.device("cpu")


def make_room(device: torch.device, needed_bytes: int, purpose: str = "training") -> None:
    """Before training or stylizing, asks ComfyUI's model management to unload models (a diffusion model of the
    same graph) until `needed_bytes` are free where the library runs: the GPU's memory, or on the CPU the RAM,
    where ComfyUI keeps its models too under --cpu (it unloads only if free RAM is short: its own policy). Says in
    the log how many of ComfyUI's models were loaded before and after. The patch model itself is tiny and never
    stays on the GPU: the library moves it back to the CPU and empties the GPU's cache after each run."""
    loaded = getattr(model_management, "current_loaded_models", [])
    before = len(loaded)
    model_management.free_memory(needed_bytes, device)
    log.info("patch-toon: asked ComfyUI to free %d MB on %s before %s; its loaded models: %d before, %d after",
             round(needed_bytes / 2 ** 20), device.type, purpose, before, len(loaded))


def release(device: torch.device) -> None:
    """Gives cached GPU memory back after a run (the library already emptied its own), and on Linux the freed
    host memory that the C allocator keeps (after a 1080p Stylize Video File run it kept ~0.7 GB of the server's
    RSS: measured by benchmarks/comfy_long_footage.py)."""
    if device.type in GPU_TYPES:
        model_management.soft_empty_cache()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # another C library (musl): nothing to trim
            pass


def to_pil(image: torch.Tensor) -> Image.Image:
    """An IMAGE [1, H, W, 3] or [H, W, 3] 0..1 as a PIL image."""
    return Image.fromarray(to_uint8(image.reshape(-1, *image.shape[-3:])[0][None])[0])


def jpeg_data_url(image: torch.Tensor, max_side: int = 256) -> str:
    """A small JPEG of `image` as a data: URL for the web monitor."""
    pil = to_pil(image)
    pil.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def training_reporter(node_id: str | None) -> Callable[[TrainProgress], None]:
    """The trainer's on_progress: ComfyUI's progress bar (with the preview image), its interrupt, the web event.

    The web event goes to the page that queued the prompt only, as ComfyUI's own progress does: the server
    keeps that page's id in PromptServer.client_id while the prompt runs (2024 and today's servers). A prompt
    queued without a client id (a script) has None there, and send_sync(..., None) reaches every page.
    Raising InterruptProcessingException here cancels training: the trainer frees its memory and re-raises.
    """
    bar = comfy.utils.ProgressBar(BAR_STEPS)
    client_id = getattr(PromptServer.instance, "client_id", None)

    def report(progress: TrainProgress) -> None:
        model_management.throw_exception_if_processing_interrupted()
        # A page that turned the monitor's thumbnails off gets no images at all (nor ComfyUI's node preview):
        # asked at each report, so that the setting applies during a run.
        images = thumbnails_wanted(client_id)
        preview = None if progress.preview is None or not images else ("JPEG", to_pil(progress.preview), 512)
        bar.update_absolute(round(BAR_STEPS * progress.fraction), BAR_STEPS, preview)
        data = {"node": node_id, **progress.as_dict()}
        if progress.preview is not None and images:
            data["preview"] = jpeg_data_url(progress.preview)
        if progress.strip is not None and images:  # small thumbnails: the whole clip at a glance
            data["strip"] = [{"frame": t, "image": jpeg_data_url(image[None], STRIP_THUMB_SIDE)}
                             for t, image in zip(progress.strip_indices, progress.strip)]
        PromptServer.instance.send_sync(PROGRESS_EVENT, data, client_id)

    return report


def guide_reporter() -> Callable:
    """on_progress(GuideProgress) for guide computation: ComfyUI's progress bar (flow pairs, then frames) and
    interrupt (Cancel stops between two frames)."""
    bar = comfy.utils.ProgressBar(1)

    def report(progress) -> None:
        model_management.throw_exception_if_processing_interrupted()
        bar.update_absolute(progress.done, max(progress.total, 1))

    return report


def count_reporter(total: int) -> Callable[[int, int], None]:
    """on_progress(done, total) for frame loops: ComfyUI's progress bar and interrupt."""
    bar = comfy.utils.ProgressBar(max(total, 1))

    def report(done: int, total: int) -> None:
        model_management.throw_exception_if_processing_interrupted()
        bar.update_absolute(done, max(total, 1))

    return report
