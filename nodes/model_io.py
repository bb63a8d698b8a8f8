"""Model file nodes: save a trained style model to models/patch_toon/ and load one from there.

Files use the library's checkpoint format (patch_training.model.checkpoint): a model saved here loads in
`python -m patch_training stylize`, and a model trained on the command line loads here.
"""
from __future__ import annotations

import os
from pathlib import Path

import folder_paths

from patch_training.model.checkpoint import load_model, read_metadata, save_model
from patch_training.errors import PatchToonError
from ._common import MODELS_FOLDER, PATCH_MODEL, ROOT, SAMPLE_DIR, models_dir

# The sample style, trained on the bundled sample clip by tools/train_sample_model.py: listed next to the
# user's models so that stylize_with_checkpoint.json runs on a fresh ComfyUI.
SAMPLE_MODELS = {"[patch-toon sample] style": SAMPLE_DIR / "sample_style.safetensors"}


def model_names() -> list[str]:
    """The models in the patch_toon model folders, then the bundled sample's."""
    return folder_paths.get_filename_list(MODELS_FOLDER) + [n for n, p in SAMPLE_MODELS.items() if p.is_file()]


def model_path(model_name: str) -> str | None:
    """The file a model_name choice names, or None when there is none."""
    if model_name in SAMPLE_MODELS:
        return str(SAMPLE_MODELS[model_name]) if SAMPLE_MODELS[model_name].is_file() else None
    return folder_paths.get_full_path(MODELS_FOLDER, model_name)


class PatchToonSaveModel:
    DESCRIPTION = ("Saves a style model to ComfyUI's models/patch_toon/ folder, never replacing a file: each save "
                   "gets the next number, like Save Image. Load it with Load Patch Model or the command line.")
    CATEGORY, FUNCTION = f"{ROOT}/models", "save"
    SEARCH_ALIASES = ["save style model", "save style checkpoint", "export style model", "safetensors"]
    RETURN_TYPES, OUTPUT_NODE = (), True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (PATCH_MODEL, {"tooltip": "The style model to save, from Train Patch Model."}),
            "filename_prefix": ("STRING", {"default": "patch_toon", "tooltip": "File name start; '_00001_.safetensors' "
                                           "and so on is appended. May hold a sub-folder ('clips/shot1')."}),
        }}

    def save(self, model, filename_prefix):
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, models_dir())
        path = save_model(model, Path(folder) / f"{name}_{counter:05}_.safetensors")  # refuses to overwrite
        saved = os.path.relpath(path, models_dir()).replace(os.sep, "/")
        return {"ui": {"patch_model": [saved]}}


class PatchToonLoadModel:
    DESCRIPTION = ("Loads a style model from ComfyUI's models/patch_toon/ folder (and patch_toon folders set in "
                   "extra_model_paths.yaml), or the bundled sample's style. Connect to Stylize Frames.")
    CATEGORY, FUNCTION = f"{ROOT}/models", "load"
    SEARCH_ALIASES = ["load style model", "load style checkpoint", "import style model", "safetensors"]
    RETURN_TYPES, RETURN_NAMES = (PATCH_MODEL,), ("model",)
    OUTPUT_TOOLTIPS = ("The style model, as trained.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model_name": (model_names(), {
                "tooltip": "A .safetensors style model in models/patch_toon/ (saved by Save Patch Model or "
                           "`patch-toon train`), or the bundled sample's style (for the sample clip). Refresh "
                           "the page after adding files."}),
        }}

    @classmethod
    def IS_CHANGED(cls, model_name):
        # Same name, same file: the cached model is reused; a replaced file is loaded again.
        path = model_path(model_name)
        if path is None:
            return float("nan")
        stat = os.stat(path)
        return f"{stat.st_size}:{stat.st_mtime_ns}"

    @classmethod
    def VALIDATE_INPUTS(cls, model_name):
        path = model_path(model_name)
        if path is None:
            return (f"model_name: {model_name!r} is not in the patch_toon model folders "
                    f"{folder_paths.get_folder_paths(MODELS_FOLDER)}. Save a model there first, or pick another.")
        try:
            read_metadata(path)
        except PatchToonError as error:
            return str(error)
        return True

    def load(self, model_name):
        return (load_model(model_path(model_name)),)
