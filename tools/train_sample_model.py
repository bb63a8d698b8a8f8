"""Trains the bundled sample's style into example_workflows/assets/sample/sample_style.safetensors.

The model that Load Patch Model lists as "[patch-toon sample] sample_style" and that the example workflow
stylize_with_checkpoint.json stylizes the sample clip with. It is the command line's training, with a step
budget (repeatable on a CPU for the seed): the `fast` preset (about 1.1 MB of weights) with the default guides
(gauss, edges), which Stylize Frames rebuilds from the sample frames. About 6 minutes on a 2-core CPU.

    .venv/bin/python tools/train_sample_model.py [--steps 3000] [--overwrite]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import repo  # noqa: F401  first: the repository root on sys.path

from benchmarks.common import SAMPLE
from patch_training.cli import main as cli

MODEL = SAMPLE / "sample_style.safetensors"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=MODEL)
    parser.add_argument("--overwrite", action="store_true", help="replace the committed model")
    args = parser.parse_args()
    return cli(["train", "--frames", str(SAMPLE / "frames"), "--keyframes", str(SAMPLE / "keyframes"),
                "--out", str(args.out), "--steps", str(args.steps), "--preset", "fast", "--seed", "0",
                "--threads", "1"] + (["--overwrite"] if args.overwrite else []))


if __name__ == "__main__":
    sys.exit(main())
