"""patch_training: few-shot patch-based video stylization (Texler et al. 2020), usable without ComfyUI."""
__version__ = "0.1.0"
