"""benchmarks/RELIABILITY.md, one section per script: a script rewrites its own section and keeps the others."""
from __future__ import annotations

from pathlib import Path

RELIABILITY = Path(__file__).resolve().parent / "RELIABILITY.md"
TITLE = "# Reliability measurements\n\nWritten by the scripts each section names; rerun one to refresh its section.\n"


def write_section(title: str, lines: list[str], path: Path = RELIABILITY) -> None:
    """Replaces (or appends) the section `## title` of `path` with `lines`, and prints them."""
    text = path.read_text() if path.exists() else TITLE
    head, *sections = text.split("\n## ")
    body = "\n".join([title, "", *lines]).rstrip() + "\n"
    kept = [s for s in sections if s.split("\n", 1)[0] != title]
    path.write_text("\n## ".join([head.rstrip() + "\n", *(s.rstrip() + "\n" for s in kept), body]))
    print("\n".join(lines))
