"""Helpers shared by tests (importable as `support`: tests/ is on sys.path through conftest.py)."""
from pathlib import Path

import torch

from patch_training.config import PRESETS
from patch_training.models import StyleModel, build_generator


def random_model(preset: str = "fast", guides: int = 0, seed: int = 0) -> StyleModel:
    torch.manual_seed(seed)
    config = PRESETS[preset].with_inputs(3 + guides)
    net = build_generator(config)
    with torch.no_grad():  # a residual model starts as the identity: give it a real response
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return StyleModel(net, config, {"names": ["test"]} if guides else {})


SAMPLE = Path(__file__).resolve().parents[1] / "examples_workflows" / "assets" / "sample"
