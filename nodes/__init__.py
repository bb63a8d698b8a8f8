"""The ComfyUI adapter: node classes, one file per family. The only code that imports comfy.*."""
from . import routes  # noqa: F401  registers the web extension's HTTP routes (Finish now, example workflows)
from . import live  # noqa: F401  registers the live panel's routes (after routes: it uses its helpers)
from ._common import register_models_folder
from .files import PatchToonStylizeFile
from .frames import PatchToonLoadFrames, PatchToonMakeKeyframes, PatchToonSelectFrames, PatchToonSuggestKeyframes
from .guides import PatchToonGuides, PatchToonGuidesAdvanced
from .model_io import PatchToonLoadModel, PatchToonSaveModel
from .sheets import PatchToonMakeKeyframeSheet, PatchToonSplitKeyframeSheet
from .training import PatchToonStylize, PatchToonTrain, PatchToonTrainAdvanced

register_models_folder()

NODE_CLASS_MAPPINGS = {
    "PatchToonLoadFrames": PatchToonLoadFrames,
    "PatchToonSelectFrames": PatchToonSelectFrames,
    "PatchToonSuggestKeyframes": PatchToonSuggestKeyframes,
    "PatchToonMakeKeyframes": PatchToonMakeKeyframes,
    "PatchToonMakeKeyframeSheet": PatchToonMakeKeyframeSheet,
    "PatchToonSplitKeyframeSheet": PatchToonSplitKeyframeSheet,
    "PatchToonGuides": PatchToonGuides,
    "PatchToonGuidesAdvanced": PatchToonGuidesAdvanced,
    "PatchToonTrain": PatchToonTrain,
    "PatchToonTrainAdvanced": PatchToonTrainAdvanced,
    "PatchToonStylize": PatchToonStylize,
    "PatchToonStylizeFile": PatchToonStylizeFile,
    "PatchToonSaveModel": PatchToonSaveModel,
    "PatchToonLoadModel": PatchToonLoadModel,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "PatchToonLoadFrames": "Load Frames",
    "PatchToonSelectFrames": "Select Frames",
    "PatchToonSuggestKeyframes": "Suggest Keyframes",
    "PatchToonMakeKeyframes": "Make Keyframes",
    "PatchToonMakeKeyframeSheet": "Make Keyframe Sheet",
    "PatchToonSplitKeyframeSheet": "Split Keyframe Sheet",
    "PatchToonGuides": "Compute Guides",
    "PatchToonGuidesAdvanced": "Compute Guides (Advanced)",
    "PatchToonTrain": "Train Patch Model",
    "PatchToonTrainAdvanced": "Train Patch Model (Advanced)",
    "PatchToonStylize": "Stylize Frames",
    "PatchToonStylizeFile": "Stylize Video File",
    "PatchToonSaveModel": "Save Patch Model",
    "PatchToonLoadModel": "Load Patch Model",
}
