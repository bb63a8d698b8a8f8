"""Puts this checkout's root first on sys.path, for tools/*.py: they run as `python tools/X.py`, with their own
folder on sys.path and not the root, and import `patch_training` and `benchmarks` from this checkout (not from
another one an environment has installed). Each tool imports it before anything of this checkout."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
