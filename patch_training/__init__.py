"""patch_training: few-shot patch-based video stylization (Texler et al. 2020), usable without ComfyUI.

The stages, in the order data flows: `frames` (clips in and out, keyframe choice) -> `guides` -> `train`
-> `stylize`, around `model` (what a style model is, its checkpoint); `pipeline` runs them from files to
files (the command line, the ComfyUI nodes and `batch` all call it). What a Python user calls is exported
here (`__all__`), imported on first use: `import patch_training` stays cheap and needs no torch, so that
`python -m patch_training` can say plainly when torch is missing.

    from patch_training import FrameSource, GuideSpec, TrainConfig, fit_style, make_keyframes, model_guides
    from patch_training.stylize import stylize
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> the module (below this package) that defines it
_EXPORTS = {
    # foundation
    "PatchToonError": "errors", "FramesError": "errors", "KeyframeError": "errors", "MaskError": "errors",
    "GuideError": "errors", "CheckpointError": "errors", "OutputExistsError": "errors",
    "MemoryLimitError": "errors", "WarmStartError": "errors", "ConfigError": "errors",
    "GeneratorConfig": "config", "TrainConfig": "config", "PRESETS": "config",
    "Keyframes": "keyframes", "make_keyframes": "keyframes",
    "psnr": "metrics", "ssim": "metrics", "ColorLUT": "metrics", "temporal_instability": "metrics",
    # model
    "StyleModel": "model.networks", "TrainSummary": "model.summary", "load_model": "model.checkpoint", "save_model": "model.checkpoint",
    "read_metadata": "model.checkpoint",
    # frames
    "FrameSource": "frames.sources", "to_tensor": "frames.sources", "to_uint8": "frames.sources",
    "FrameWriter": "frames.writers", "parse_indices": "frames.selection", "format_indices": "frames.selection",
    "read_frames": "frames.selection", "suggest_keyframes": "frames.suggest",
    "align_keyframe": "frames.align", "make_aligned_keyframes": "frames.align", "Alignment": "frames.align",
    "AlignmentReport": "frames.align",
    "make_sheet": "frames.sheets", "split_sheet": "frames.sheets", "sheet_layout": "frames.sheets",
    # guides
    "GuideSpec": "guides.spec", "parse_guides": "guides.spec", "compute_flow": "guides.flow",
    "compute_guides": "guides.compute", "detect_shots": "guides.shots", "GuideSet": "guides.guide_set",
    "make_guide_set": "guides.guide_set", "choose_guides": "guides.auto", "GuideChoice": "guides.auto",
    # stylize (the whole-clip `stylize` is `patch_training.stylize.stylize`: the stage's package has its name)
    "stylize_stream": "stylize.stream", "model_guides": "stylize.needs",
    # train
    "TrainProgress": "train.progress", "train_style_model": "train.loop", "fit_style": "train.fit",
    "fit_style_stream": "train.stream",
    # files to files
    "TrainOptions": "pipeline.train_files", "train_from_files": "pipeline.train_files",
    "LiveSession": "pipeline.live", "LiveSettings": "pipeline.live_preview",
    "output_writer": "pipeline.stylize_files", "stylize_files": "pipeline.stylize_files",
    # batch
    "read_manifest": "batch.manifest", "run_batch": "batch.run",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'patch_training' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
