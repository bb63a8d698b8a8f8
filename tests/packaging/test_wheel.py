"""`pip install .` as a newcomer does it: a wheel, a fresh virtual environment, the `patch-toon` command anywhere.

One test, in steps, because each step needs the previous one (about 30 s: torch comes from this machine's disk
or pip's cache, the other dependencies at the versions pinned for development, from pip's cache).
"""
import json
import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import patch_training

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "example_workflows" / "assets" / "sample"


def sh(*argv, cwd, ok=True):
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")})
    if ok:
        assert done.returncode == 0, f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def test_wheel_installs_into_a_fresh_venv_and_its_command_trains_and_stylizes_from_any_folder(tmp_path):
    sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path / "dist", REPO, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("patch_toon-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"patch_training", "patch_toon"}  # no tests/, tools/, web/ or nodes/ at the top level
    assert {"patch_training/cli.py", "patch_training/guides/compute.py", "patch_toon/__init__.py",
            "patch_toon/nodes/model_io.py", "patch_toon/web/training_monitor.js", "patch_toon/web/fixed_seeds.js",
            "patch_toon/web/docs/PatchToonTrain.md",
            "patch_toon/example_workflows/stylize_with_checkpoint.json",
            "patch_toon/example_workflows/stylize_with_checkpoint.jpg",  # its Templates thumbnail
            "patch_toon/example_workflows/assets/sample/sample_style.safetensors",
            "patch_training/model/priors/fast-gauss-edges.safetensors",
            "patch_training/model/priors/fast-gauss-edges-page.safetensors",
            "patch_training/model/priors/balanced-gauss-edges.safetensors",
            "patch_training/model/priors/balanced-gauss-edges-page.safetensors"} <= set(names)
    library = {p.relative_to(REPO).as_posix() for p in (REPO / "patch_training").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert not library - set(names), f"library modules missing from the wheel (pyproject's packages): " \
                                     f"{sorted(library - set(names))}"

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, command = env_dir / "bin" / "python", env_dir / "bin" / "patch-toon"
    elsewhere = tmp_path / "elsewhere"  # an unrelated folder: nothing of the repository is importable from here
    elsewhere.mkdir()
    sh(python, "-m", "pip", "install", "--quiet", "--no-deps", wheel, cwd=elsewhere)
    no_torch = sh(command, "--help", cwd=elsewhere, ok=False)  # torch is not a dependency: say how to get it
    assert no_torch.returncode == 2 and "patch-toon[torch]" in no_torch.stderr, no_torch.stderr

    sh(python, "-m", "pip", "install", "--quiet", "torch==2.13.0", wheel, "--constraint",
       REPO / "requirements-dev.txt", cwd=elsewhere)
    assert "usage: patch-toon" in sh(command, "--help", cwd=elsewhere).stdout
    assert sh(python, "-m", "patch_training", "--version", cwd=elsewhere).stdout.split() == [
        "patch_training", patch_training.__version__]
    located = sh(python, "-c", "import patch_training; print(patch_training.__file__)", cwd=elsewhere).stdout
    assert str(env_dir) in located  # the installed copy, not the repository's

    site = Path(located.strip()).parents[1]
    sample_model = site / "patch_toon" / "example_workflows" / "assets" / "sample" / "sample_style.safetensors"
    info = json.loads(sh(command, "info", sample_model, cwd=elsewhere).stdout)  # the wheel's sample style loads
    assert info["stylize_needs"].startswith("frames of 350x350 only")

    sh(command, "train", "--frames", SAMPLE / "frames", "--keyframes", SAMPLE / "keyframes", "--out", "m.safetensors",
       "--steps", 2, cwd=elsewhere)
    info = json.loads(sh(command, "info", "m.safetensors", cwd=elsewhere).stdout)
    assert info["summary"]["steps"] == 2 and info["summary"]["prior"] == "shipped"  # the installed prior is found
    sh(command, "stylize", "--model", "m.safetensors", "--frames", SAMPLE / "frames", "--out", "styled", cwd=elsewhere)
    styled = sorted(p.name for p in (elsewhere / "styled").iterdir())
    # one PNG per frame, and the render record a later `stylize --update` reads
    assert styled == [".patch-toon-render.json"] + sorted(p.stem + ".png" for p in (SAMPLE / "frames").iterdir())


def test_package_version_is_the_library_version():
    # The Comfy registry reads the static version in pyproject.toml; the CLI and checkpoints report __version__.
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["version"] == patch_training.__version__
    assert "torch" not in " ".join(project["dependencies"])  # never replace ComfyUI's torch
    requirements = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    assert not [r for r in requirements if r.startswith("torch")]


def test_nodes_import_the_library_by_its_own_name():
    # The ComfyUI entry registers its bundled patch_training under that name; a relative `..patch_training`
    # import would load a second copy of the library beside it (two StyleModel classes, two error types).
    relative = [f"{p.name}:{n}" for p in sorted((REPO / "nodes").glob("*.py"))
                for n, line in enumerate(p.read_text().splitlines(), 1) if "..patch_training" in line]
    assert not relative, f"import the library as `from patch_training... import`, not relatively: {relative}"
