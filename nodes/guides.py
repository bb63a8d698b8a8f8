"""Guide nodes: frame-consistency guides (optical flow, advected Gaussian blobs, edges, denoise, warped keyframes)."""
from __future__ import annotations

import dataclasses
import logging

from patch_training.errors import PatchToonError
from patch_training.guides.auto import AUTO, is_auto
from patch_training.guides.guide_set import choose_spec, make_guide_set
from patch_training.guides import DEFAULT_GUIDES, GUIDE_CHANNELS, GuideSpec, parse_guides
from patch_training.guides.spec import FLOW_PRESET_NAMES
from ._common import PATCH_GUIDES, PATCH_KEYFRAMES, ROOT, guide_reporter

log = logging.getLogger(__name__)
DEFAULTS = {f.name: f.default for f in dataclasses.fields(GuideSpec)}
GUIDES_TIP = (f"auto (default): chosen from the keyframes: {', '.join(DEFAULT_GUIDES)}, plus page when the stylized "
              "texture stays fixed on the page while the content moves (the node's text says what was chosen and "
              f"why). Or the guides by name, comma-separated, in channel order: {', '.join(GUIDE_CHANNELS)}. gauss: coloured blobs "
              "placed on the keyframes and carried along the motion (keeps parts of the frame apart); edges: edge "
              "strength; denoise: the frame smoothed along the motion (less flicker from noise); warp: the "
              "stylized keyframes carried along the motion (needs 2 or more keyframes); page: what the stylized "
              "keyframes show at each pixel, fixed on the page (paper grain, hatching screens; needs 2 or more "
              "keyframes).")


def _simple_inputs() -> dict:
    return {
        "frames": ("IMAGE", {"tooltip": "The clip, the same frames given to training and stylization."}),
        "keyframes": (PATCH_KEYFRAMES, {"tooltip": "The keyframes from Make Keyframes: the guides start from them "
                                                   "(their masks place the blobs; 'warp' and 'page' use their "
                                                   "images)."}),
        "guides": ("STRING", {"default": AUTO, "tooltip": GUIDES_TIP}),
        "seed": ("INT", {"default": DEFAULTS["seed"], "min": 0, "max": 2**31 - 1,
                         "tooltip": "Seeds the Gaussian blobs' colours and places; the same seed gives the same guides."}),
        "flow_preset": (list(FLOW_PRESET_NAMES), {"default": DEFAULTS["flow_preset"],
                        "tooltip": "Optical flow quality: 'ultrafast' to 'medium'. Slower presets follow fine "
                                   "motion better."}),
        "detect_cuts": ("BOOLEAN", {"default": DEFAULTS["detect_cuts"], "tooltip": "Split the clip at hard cuts "
                                    "so that no guide is carried across one."}),
    }


class PatchToonGuides:
    DESCRIPTION = ("Computes frame-consistency guides for a clip and its keyframes, once; connect them to Train "
                   "Patch Model and to Stylize Frames (a model trained with guides needs the same guides).")
    CATEGORY, FUNCTION = f"{ROOT}/guides", "compute"
    SEARCH_ALIASES = ["optical flow", "temporal consistency", "flicker", "motion guide", "gaussian guide",
                      "edge guide"]
    RETURN_TYPES, RETURN_NAMES = (PATCH_GUIDES, "IMAGE"), ("guides", "preview")
    OUTPUT_TOOLTIPS = ("The guides of every frame, with the settings that made them.",
                       "The first guide of every frame as images (the Gaussian blobs when 'gauss' comes first).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": _simple_inputs()}

    @classmethod
    def VALIDATE_INPUTS(cls, guides):
        if is_auto(guides):
            return True
        try:
            if not parse_guides(guides):
                return "guides: expected 'auto' or at least one guide name, e.g. 'gauss, edges'."
        except PatchToonError as error:
            return str(error)
        return True

    def compute(self, frames, keyframes, guides, **settings):
        spec, choice = choose_spec(guides, frames, keyframes, **settings)
        if choice is not None:
            log.info("patch-toon Compute Guides: %s", choice.describe())
        guide_set = make_guide_set(frames, spec, keyframes, on_progress=guide_reporter(), choice=choice)
        result = (guide_set, guide_set.preview())
        # What auto chose, and why, on the node (the page shows a node's ui text): guides named need no message.
        return {"ui": {"text": [choice.describe()]}, "result": result} if choice is not None else result


class PatchToonGuidesAdvanced(PatchToonGuides):
    DESCRIPTION = PatchToonGuides.DESCRIPTION + " This version also sets each guide's parameters."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            **_simple_inputs(),
            "gauss_blobs": ("INT", {"default": DEFAULTS["gauss_blobs"], "min": 1, "max": 100_000,
                                    "tooltip": "Blobs per keyframe; more gives the network finer landmarks."}),
            "gauss_radius": ("FLOAT", {"default": DEFAULTS["gauss_radius"], "min": 0.001, "max": 1.0, "step": 0.005,
                                       "tooltip": "Blob size as a fraction of the frame's size (sqrt(height x width))."}),
            "gauss_chain": ("BOOLEAN", {"default": DEFAULTS["gauss_chain"], "tooltip": "Later keyframes of a shot "
                                        "reuse the first keyframe's blobs, carried along the motion (a part keeps "
                                        "its colour); off: each keyframe scatters its own."}),
            "flow_scale": ("INT", {"default": DEFAULTS["flow_scale"], "min": 0, "max": 8, "tooltip": "Compute the "
                                   "flow on a grid this many times coarser than the frames; 0 = automatic."}),
            "denoise_radius": ("INT", {"default": DEFAULTS["denoise_radius"], "min": 0, "max": 32, "tooltip":
                                       "Frames on each side averaged by the 'denoise' guide; 0 = the frame itself."}),
            "denoise_sigma": ("FLOAT", {"default": DEFAULTS["denoise_sigma"], "min": 0.001, "max": 10.0, "step": 0.01,
                                        "tooltip": "Colour difference (0..1) at which a neighbouring frame's weight "
                                                   "in the 'denoise' guide falls off; larger smooths more."}),
            "edge_sigma": ("FLOAT", {"default": DEFAULTS["edge_sigma"], "min": 0.0, "max": 100.0, "step": 0.1,
                                     "tooltip": "Blur in pixels before the 'edges' guide finds edges; 0 = no blur."}),
        }}
