"""patch-toon: ComfyUI entry point. The nodes live in nodes/, the library in patch_training/."""
import importlib.util
import sys
from pathlib import Path

WEB_DIRECTORY = "./web"
NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}


def _use_bundled_library() -> None:
    """nodes/ import the library as `patch_training`, the name the CLI and a pip install give it. A clone in
    custom_nodes/ is not on sys.path, so its own copy is registered under that name (before any other install
    of it, so that nodes and library always come from the same checkout); the pip-installed pack has none."""
    bundled = Path(__file__).resolve().parent / "patch_training"
    if "patch_training" in sys.modules or not (bundled / "__init__.py").is_file():
        return
    spec = importlib.util.spec_from_file_location("patch_training", bundled / "__init__.py",
                                                  submodule_search_locations=[str(bundled)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["patch_training"] = module
    spec.loader.exec_module(module)


# Outside ComfyUI (pytest collects this folder as a package, tools import it) there is nothing to register.
if importlib.util.find_spec("comfy") is not None:
    _use_bundled_library()
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
