"""Training and stylization nodes: learn a style from keyframes, stylize every frame with it."""
from __future__ import annotations

from patch_training.config import BASES, DEFAULT_BASE, DEFAULT_PRESET, LOSS_PRESETS, PRECISIONS, PRESETS, TrainConfig
from patch_training.errors import GuideError
from patch_training.stylize.needs import check_guides_match
from patch_training.stylize.tiled import stylize
from patch_training.memory import inference_bytes, training_bytes
from patch_training.train.fit import fit_style
from patch_training.stylize.needs import guide_spec_of, guides_need, model_guides
from patch_training.train.warm_start import WarmStartCache, settings_key
from ._common import (METHOD_ALIASES, PATCH_GUIDES, PATCH_KEYFRAMES, PATCH_MODEL, ROOT, compute_device,
                      count_reporter, guide_reporter, make_room, release, training_reporter)
from .routes import training_session

STRIP_FRAMES = 5  # frames spread over the clip in the monitor's strip and the strip output
# The last model of each training node (by node id, at most 4 nodes, on the CPU): a re-run after only its
# keyframes (or budget) changed continues from it.
WARM_STARTS = WarmStartCache(size=4)

PRESET_TIP = ("Network size. 'fast': a small U-Net, many steps per second, best on a CPU; 'balanced': wider, "
              "for a GPU or longer budgets; 'reference': the paper's generator (slow on a CPU).")


def _train_inputs(extra: dict, optional: dict | None = None) -> dict:
    return {"required": {
        "frames": ("IMAGE", {"tooltip": "The clip (the same frames given to Make Keyframes). A frame that is not a "
                                        "keyframe is stylized as the preview while training."}),
        "keyframes": (PATCH_KEYFRAMES, {"tooltip": "The stylized keyframes, from Make Keyframes."}),
        "preset": (list(PRESETS), {"default": DEFAULT_PRESET, "tooltip": PRESET_TIP}),
        "seconds": ("FLOAT", {"default": 120.0, "min": 0.0, "max": 86400.0, "step": 1.0,
                              "tooltip": "Training time in seconds; more time learns finer detail. 0 = no time "
                                         "limit (then steps must be set). Training stops at whichever comes first."}),
        "steps": ("INT", {"default": 0, "min": 0, "max": 10_000_000,
                          "tooltip": "Training steps (batches of patches); 0 = no step limit (then seconds must be "
                                     "set). A step count makes training repeatable on the CPU for a given seed."}),
        "seed": ("INT", {"default": 0, "min": 0, "max": 2**31 - 1,
                         "tooltip": "Seeds the network's start (when not the shipped prior's) and the patch "
                                    "sampling: same seed, inputs and steps on the CPU give the same model."}),
        **extra,
    }, "optional": {
        "guides": (PATCH_GUIDES, {"tooltip": "Optional consistency guides from Compute Guides; the model then needs "
                                             "the same guides to stylize. Leave empty to learn from the frames alone."}),
        "init_model": (PATCH_MODEL, {"tooltip": "Optional: a trained model to continue (Load Patch Model, or another "
                                                "Train Patch Model) instead of starting from scratch. It must "
                                                "have the same preset and guides. After a keyframe edit a warm start "
                                                "reaches a fresh run's quality in a fraction of the time."}),
        # Optional, with a default: workflows saved before it existed load and run as before (warm start on).
        "warm_start": ("BOOLEAN", {"default": True, "tooltip": "On: when this node runs again on the same clip with "
                                   "the same settings (preset, guides, loss, batch, patch, learning rate, precision, "
                                   "seed) and only the keyframes or the budget changed, training continues from the "
                                   "model it made last time; the monitor says so. Off: train from scratch (the same "
                                   "seed and steps then give the same model on the CPU)."}),
        **(optional or {}),
    }, "hidden": {"unique_id": "UNIQUE_ID"}}


class PatchToonTrain:
    DESCRIPTION = ("Learns the keyframes' style from small patches, for a time or step budget, with a live preview "
                   "of a held-out frame and a strip of the whole clip. Edit a keyframe and queue again: it continues "
                   "from the model it made last time (warm_start). Connect to Stylize Frames and Save Patch Model.")
    CATEGORY, FUNCTION = f"{ROOT}/training", "train"
    SEARCH_ALIASES = [*METHOD_ALIASES, "train style", "learn style", "patch-based training", "style model",
                      "keyframe training"]
    RETURN_TYPES, RETURN_NAMES = (PATCH_MODEL, "IMAGE", "IMAGE"), ("model", "preview", "strip")
    OUTPUT_TOOLTIPS = ("The trained style model.", "A frame that is not a keyframe, stylized by the final model.",
                       f"{STRIP_FRAMES} frames spread over the clip (first and last included), stylized by the final "
                       f"model at full size: the whole clip at a glance, without Stylize Frames.")

    @classmethod
    def INPUT_TYPES(cls):
        return _train_inputs({})

    def train(self, frames, keyframes, preset, seconds, steps, seed, guides=None, init_model=None, warm_start=True,
              unique_id=None, **advanced):
        device = compute_device()
        config = TrainConfig(preset=preset, seconds=seconds, steps=steps, seed=seed, device=device.type, **advanced)
        config.validate()
        key = settings_key(frames, config, guides.spec.to_dict() if guides is not None else None)
        init = init_model if init_model is not None else WARM_STARTS.get(unique_id, key) if warm_start else None
        network = config.generator(3 + (guides.spec.channels if guides is not None else 0),  # base and init's
                                   None if init is None else init.config)
        make_room(device, training_bytes(network, len(keyframes), *frames.shape[1:3], config.resolved_batch(),
                                         config.resolved_patch()))
        try:
            with training_session(unique_id) as should_stop:
                model = fit_style(frames, keyframes, config, guide_set=guides, init=init, strip_frames=STRIP_FRAMES,
                                  on_progress=training_reporter(unique_id), should_stop=should_stop)
        finally:
            release(device)
        WARM_STARTS.put(unique_id, key, model)
        return (model, model.preview, model.strip if model.strip is not None else model.preview)


class PatchToonTrainAdvanced(PatchToonTrain):
    DESCRIPTION = (PatchToonTrain.DESCRIPTION + " This version also sets the loss, batch, patch size, precision, "
                   "residual base and starting weights.")

    @classmethod
    def INPUT_TYPES(cls):
        return _train_inputs({
            "loss": (["auto", *LOSS_PRESETS], {"tooltip": "Loss terms. auto: 'paper' for the reference preset, "
                                                          "'structure' (L1 + SSIM + gradient) otherwise."}),
            "batch_size": ("INT", {"default": 0, "min": 0, "max": 1024, "tooltip": "Patches per step; 0 = the "
                                   "preset's default (16, the paper's 40 for reference). More: smoother, slower steps."}),
            "patch_size": ("INT", {"default": 0, "min": 0, "max": 512, "tooltip": "Patch side in pixels; 0 = the "
                                   "preset's: fast and balanced train their first 800 steps on 32 at half the learning "
                                   "rate, then 48 (faster early progress); the paper's 32 for reference. At least 16. "
                                   "Any other value: that size all along."}),
            "learning_rate": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.0001, "tooltip": "Adam "
                                        "learning rate; 0 = the preset's default (2e-3 with cosine decay, 1e-3 for a "
                                        "warm start, 4e-4 for reference)."}),
            "precision": (list(PRECISIONS), {"tooltip": "Arithmetic while training. auto: bf16 where "
                                                                        "the CPU or GPU runs it fast, else fp32."}),
            "base": (["auto", *BASES], {"tooltip": "What the network's change is added to. input: the frame; "
                                                    "colour: a colour mapping of the frame fitted to the keyframes "
                                                    "before training (the steps then go into texture, not colour); "
                                                    f"auto: {DEFAULT_BASE} (a warm start: its model's)."}),
        }, {
            # Optional, with a default: workflows saved before it existed load and run (with the prior).
            "prior": (["auto", "none"], {"tooltip": "Starting weights when training from scratch. auto: the shipped "
                                                    "prior (weights that learn a new style fast, trained on other "
                                                    "clips and styles) for the fast and balanced presets at the "
                                                    "default base with the guides "
                                                    "auto chooses (gauss, edges; or gauss, edges, page), random "
                                                    "weights for any other network; none: random "
                                                    "weights. A warm start starts from its model instead."}),
        })


class PatchToonStylize:
    DESCRIPTION = ("Stylizes every frame with a trained style model, a few frames at a time and in tiles, so that "
                   "memory stays bounded whatever the frame size. Connect to Save Image, Save Animated WEBP or a "
                   "video combiner.")
    CATEGORY, FUNCTION = f"{ROOT}/stylize", "stylize"  # the node id is unchanged: saved workflows load
    SEARCH_ALIASES = [*METHOD_ALIASES, "apply style", "stylize frames", "stylize video", "video to video"]
    RETURN_TYPES, RETURN_NAMES = ("IMAGE",), ("images",)
    OUTPUT_TOOLTIPS = ("The stylized frames, same count and size as the input frames.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (PATCH_MODEL, {"tooltip": "A style model from Train Patch Model or Load Patch Model."}),
            "frames": ("IMAGE", {"tooltip": "The frames to stylize (any count; any size for a model without guides)."}),
            "batch_size": ("INT", {"default": 4, "min": 1, "max": 256, "tooltip": "Frames per forward pass; more is "
                                   "faster on a GPU and uses more memory. Does not change the result."}),
            "tile": ("INT", {"default": 0, "min": 0, "max": 8192, "step": 64, "tooltip": "Frames larger than this "
                             "many pixels a side are stylized in overlapping tiles, blended without seams. Smaller "
                             "uses less memory; the result is the same. 0 = by network (1024, the paper's: 768)."}),
        }, "optional": {
            "guides": (PATCH_GUIDES, {"tooltip": "The guides of these frames, computed like the ones the model was "
                                                 "trained with. Leave empty to let Stylize rebuild them from the "
                                                 "settings stored in the model (as the command line does): that works "
                                                 "on the clip the model was trained on, unless it used the 'warp' "
                                                 "or 'page' guide. A model trained without guides takes none."}),
        }}

    def stylize(self, model, frames, batch_size, tile, guides=None):
        device = compute_device()
        if guides is not None:
            check_guides_match(model, guides)
            guides = guides.guides
        else:
            guides = rebuilt_guides(model, frames)
        make_room(device, inference_bytes(model.config, frames.shape[0], *frames.shape[1:3], batch_size, tile),
                  "stylizing")
        try:
            out = stylize(model, frames, guides, batch_size=batch_size, tile=tile,
                          device=device, on_progress=count_reporter(frames.shape[0]))
        finally:
            release(device)
        return (out,)


def rebuilt_guides(model, frames):
    """The guides a guided model was trained with, rebuilt from its stored settings; None for an RGB model.

    Only where that needs nothing but the frames: the 'warp' guide needs the stylized keyframes (and a model of
    checkpoint format 1 trained with masks its masks), so those ask for the guides input instead.
    """
    needs = guides_need(model)
    if needs:
        what = ("the stylized keyframes ('" + "', '".join(guide_spec_of(model).keyframe_image_guides) + "' guide)"
                if "keyframes" in needs else "the keyframes' masks")
        raise GuideError(f"guides: this model was trained with guides {list(guide_spec_of(model).guides)}, which "
                         f"need {what} to rebuild; none were given. Connect Compute Guides, set as for training.")
    return model_guides(model, frames, on_progress=guide_reporter())
