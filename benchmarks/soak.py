"""Soak: the sample training workflow run 30 times on one ComfyUI server (the test host, March 2024).

Every third run is cancelled during training, others are ended by "Finish now", the rest train for 2.5 s;
a fixed-seed, fixed-step run before and after must give the same animation. Reports the outcomes, the server's
memory (VmRSS) after the warm-up and after the runs, and any file left that no run reported as its output.

    .venv/bin/python -m benchmarks.soak [--runs 30]     # about 3 minutes on 2 cores; needs `make test`'s host

Writes its section of benchmarks/RELIABILITY.md.
"""
from __future__ import annotations

import argparse
import collections
import sys
import time

from benchmarks.common import TESTS, write_section

sys.path.insert(0, str(TESTS))  # the test suite's ComfyUI host
from comfy_host import ComfyServer, setup_host  # noqa: E402
from comfy_host.soak import files_left, soak  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    setup_host.ensure()
    start = time.monotonic()
    with ComfyServer() as server:
        report = soak(server, args.runs, log=print)
        left = files_left(server, report["entries"])
    outcomes = collections.Counter(f"{kind} -> {outcome}" for kind, outcome, _ in report["outcomes"])
    lines = [f"{time.strftime('%Y-%m-%d')}, `python -m benchmarks.soak --runs {args.runs}`: {args.runs} runs of "
             f"train_and_stylize_sample.json on one server (+ a warm-up and 2 fixed-seed runs), "
             f"{time.monotonic() - start:.0f} s.", "", "| what | value |", "|---|---|",
             *(f"| {name} | {count} |" for name, count in sorted(outcomes.items())),
             f"| server VmRSS after warm-up | {report['rss_after_warmup'] / 2**20:.0f} MB |",
             f"| server VmRSS after the runs | {report['rss_after'] / 2**20:.0f} MB |",
             f"| growth | {(report['rss_after'] - report['rss_after_warmup']) / 2**20:+.0f} MB |",
             f"| files left beyond the outputs | {len(left)} {left[:5] if left else ''} |",
             f"| fixed-seed run after the runs equals the fresh server's | {report['same_as_fresh']} |"]
    write_section("Long-running server (soak)", lines)


if __name__ == "__main__":
    main()
