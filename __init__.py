"""patch-toon: ComfyUI entry point. The nodes live in nodes/, the library in patch_training/."""
import importlib.util

WEB_DIRECTORY = "./web"
NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}
# Outside ComfyUI (pytest collects this folder as a package, tools import it) there is nothing to register.
if importlib.util.find_spec("comfy") is not None:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
