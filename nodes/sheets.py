"""Keyframe sheet nodes: the keyframes tiled into one image for an image-edit model, and its result cut back."""
from __future__ import annotations

from patch_training.frames.selection import SYNTAX, format_indices, parse_indices
from patch_training.frames.sheets import DEFAULT_MAX_SIDE, make_sheet, sheet_layout, split_sheet
from ._common import ROOT, log
from .frames import _index_syntax

SHEET_ALIASES = ["contact sheet", "keyframe grid", "image grid", "temporalkit", "consistent keyframes",
                 "flux kontext", "qwen image edit"]
MAX_SIDE_TOOLTIP = ("The sheet's longer side at most, in pixels: about the image model's working size (1024 for "
                    "Flux Kontext and Qwen-Image-Edit). Tiles are multiples of 64 px; more keyframes, smaller tiles. "
                    "Give Split Keyframe Sheet the same value.")


def _max_side():
    return ("INT", {"default": DEFAULT_MAX_SIDE, "min": 64, "max": 8192, "step": 64, "tooltip": MAX_SIDE_TOOLTIP})


class PatchToonMakeKeyframeSheet:
    DESCRIPTION = ("Tiles the keyframes into one image, a grey gutter between them, so that an image-edit model "
                   "(Flux Kontext, Qwen-Image-Edit, img2img) stylizes them all in one pass and they agree with "
                   "each other. Connect its sheet to the model and the model's result to Split Keyframe Sheet.")
    CATEGORY, FUNCTION = f"{ROOT}/frames", "make"
    SEARCH_ALIASES = SHEET_ALIASES
    RETURN_TYPES, RETURN_NAMES = ("IMAGE", "STRING"), ("sheet", "indices")
    OUTPUT_TOOLTIPS = ("The keyframes on one image, row by row in the order of indices.",
                       "The frame numbers on the sheet, e.g. '0, 14, 31': connect to Split Keyframe Sheet and Make "
                       "Keyframes.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "frames": ("IMAGE", {"tooltip": "The whole clip (from Load Frames or any IMAGE batch): the indices point "
                                            "into it."}),
            "indices": ("STRING", {"default": "0", "tooltip": f"The keyframes, 0-based: {SYNTAX}. Connect Suggest "
                                                              "Keyframes' indices."}),
            "max_side": _max_side(),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, indices):
        return _index_syntax(indices)

    def make(self, frames, indices, max_side):
        picked = parse_indices(indices, frames.shape[0], "indices")
        sheet = make_sheet(frames[picked], max_side)
        text = [sheet_layout(len(picked), frames.shape[1:3], max_side).describe()]
        return {"ui": {"text": text}, "result": (sheet, format_indices(picked))}


class PatchToonSplitKeyframeSheet:
    DESCRIPTION = ("Cuts a stylized keyframe sheet (from Make Keyframe Sheet, through an image model) back into "
                   "its keyframes at the frames' size, each registered to its frame. A sheet the model returned "
                   "at another size splits by proportion. Connect stylized and indices to Make Keyframes.")
    CATEGORY, FUNCTION = f"{ROOT}/frames", "split"
    SEARCH_ALIASES = SHEET_ALIASES
    RETURN_TYPES, RETURN_NAMES = ("IMAGE", "STRING"), ("stylized", "indices")
    OUTPUT_TOOLTIPS = ("The stylized keyframes, one per index at the frames' size: connect to Make Keyframes' "
                       "stylized.", "The frame numbers, in the same order: connect to Make Keyframes' indices.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "sheet": ("IMAGE", {"tooltip": "The stylized sheet: the image model's output for Make Keyframe Sheet's "
                                           "sheet, at any size of the sheet's aspect."}),
            "frames": ("IMAGE", {"tooltip": "The whole clip, as given to Make Keyframe Sheet."}),
            "indices": ("STRING", {"default": "0", "tooltip": "The keyframes on the sheet, as given to Make Keyframe "
                                                              "Sheet (connect its indices output)."}),
            "max_side": _max_side(),
        }}

    @classmethod
    def VALIDATE_INPUTS(cls, indices):
        return _index_syntax(indices)

    def split(self, sheet, frames, indices, max_side):
        picked = parse_indices(indices, frames.shape[0], "indices")
        stylized, notes = split_sheet(sheet, frames.shape[1:3], len(picked), max_side, frames=frames[picked],
                                     indices=picked)
        for note in notes:
            log.info("patch-toon Split Keyframe Sheet: %s", note)
        result = (stylized, format_indices(picked))
        return {"ui": {"text": notes}, "result": result} if notes else result
