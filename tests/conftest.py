import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Every test in these folders starts processes (a ComfyUI server, Chromium, pip and a fresh venv): `slow`.
SLOW_FOLDERS = tuple(REPO / "tests" / name for name in ("integration", "browser", "packaging"))


def pytest_collection_modifyitems(items):
    for item in items:
        if any(folder in item.path.parents for folder in SLOW_FOLDERS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def textured():
    """A smooth-but-textured batch of frames [T, H, W, 3] in 0..1, reproducible."""
    def make(t: int = 2, h: int = 64, w: int = 64, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        low = torch.rand(t, 3, max(h // 8, 1), max(w // 8, 1), generator=g)
        x = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
        x = x + 0.15 * torch.rand(t, 3, h, w, generator=g)
        return x.clamp(0, 1).permute(0, 2, 3, 1).contiguous()
    return make
