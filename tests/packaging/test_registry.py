"""Ready for the Comfy registry: `comfy node validate` finds nothing, and the archive `comfy node pack` makes (what
`comfy node publish` uploads, what ComfyUI-Manager and `comfy node install` unpack into custom_nodes/) holds the
pack and leaves the developers' files out.

comfy-cli runs from its own venv, .cache/comfy-cli-venv, built here from requirements-comfy-cli.txt (comfy-cli
1.23.0 and all it pulls in, pinned: its dependencies are not the test venv's); a stamp of that file's hash makes a
second run start at once (the first takes about a minute, from the package registry). Both commands run offline
in a copy of the files a commit would hold (git-tracked ones, and new ones git does not ignore), as the registry's
publish action sees a fresh checkout.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PINS = Path(__file__).with_name("requirements-comfy-cli.txt")
VENV = REPO / ".cache" / "comfy-cli-venv"
STAMP = VENV / "patch-toon-stamp"
COMFY = VENV / "bin" / "comfy"
LEFT_OUT = ("tests/", "benchmarks/", "tools/", ".ci/", ".github/")  # folders no user needs
LEFT_OUT_FILES = {"Makefile", "requirements-dev.txt", "requirements-browser.txt", "CONTRIBUTING.md"}


def run(argv, cwd, env=None, timeout=600):
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**environment, **(env or {})})


def ensure_comfy_cli() -> Path:
    """The pinned comfy-cli's `comfy` command, installed into .cache/comfy-cli-venv unless it is there already."""
    wanted = f"{hashlib.sha256(PINS.read_bytes()).hexdigest()} python {sys.version_info[:2]}"
    if COMFY.exists() and STAMP.is_file() and STAMP.read_text() == wanted:
        return COMFY
    shutil.rmtree(VENV, ignore_errors=True)
    venv.create(VENV, with_pip=True)
    done = run([VENV / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "-r", PINS], cwd=REPO)
    assert done.returncode == 0, f"installing comfy-cli failed:\n{done.stdout}\n{done.stderr}"
    STAMP.write_text(wanted)
    return COMFY


def committed_files() -> list[str]:
    """The files a commit of the working tree would hold: tracked ones that exist, and new ones git does not ignore."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO)
    assert listed.returncode == 0, f"git ls-files failed (the archive is made from git's list):\n{listed.stderr}"
    return sorted({name for name in listed.stdout.split("\0") if name and (REPO / name).is_file()})


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A git repository holding exactly `committed_files()`, as the publish action's checkout would."""
    root = tmp_path_factory.mktemp("checkout") / "patch-toon"
    for name in committed_files():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, root / name)
    for argv in (["git", "init", "--quiet"], ["git", "add", "--all", "--force"]):
        assert run(argv, cwd=root).returncode == 0, argv
    return root


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    """Runs `comfy ARGS` in a folder, offline: no prompt, no telemetry, no update check, a throwaway home."""
    command, home = ensure_comfy_cli(), tmp_path_factory.mktemp("home")

    def comfy_in(folder, *args):
        return run([command, "--skip-prompt", *args], cwd=folder, timeout=300,
                   env={"HOME": str(home), "DO_NOT_TRACK": "1", "COMFY_NO_TELEMETRY": "1",
                        "COMFY_NO_UPDATE_CHECK": "1"})

    return comfy_in


def test_comfy_node_validate_reports_nothing(comfy, checkout):
    done = comfy(checkout, "node", "validate")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "All validation checks passed" in output, output
    # Its ruff checks (exec, eval, several statements on one line) and pyproject's fields (requires-comfyui's
    # format, the classifiers, the license) speak as "warning" or "error".
    assert "warning" not in output.lower() and "error" not in output.lower(), output


def test_the_registry_archive_holds_the_pack_and_no_developer_files(comfy, checkout):
    done = comfy(checkout, "node", "pack")
    assert done.returncode == 0, done.stdout + done.stderr
    names = set(zipfile.ZipFile(checkout / "node.zip").namelist())
    committed = set(committed_files())

    assert not [n for n in names if n.startswith(LEFT_OUT) or n in LEFT_OUT_FILES]
    assert not [n for n in names if n.startswith("docs/") and not n.endswith(".md")]  # no pictures: ~2.5 MB
    # Everything else a commit holds goes in: the pack, the library it runs, the example workflows and the sample.
    kept = {n for n in committed if not (n.startswith(LEFT_OUT) or n in LEFT_OUT_FILES or n.startswith(".")
                                         or (n.startswith("docs/") and not n.endswith(".md")))}
    assert names == kept, (sorted(kept - names), sorted(names - kept))
    assert {"__init__.py", "requirements.txt", "pyproject.toml", "README.md", "LICENSE", "NODES.md",
            "nodes/training.py", "web/training_monitor.js", "web/fixed_seeds.js", "web/docs/PatchToonTrain.md",
            "patch_training/cli.py", "patch_training/model/priors/fast-gauss-edges.safetensors",
            "patch_training/model/priors/fast-gauss-edges-page.safetensors",
            "patch_training/model/priors/balanced-gauss-edges.safetensors",
            "patch_training/model/priors/balanced-gauss-edges-page.safetensors"} <= names
    samples = [n for n in names if n.endswith("assets/sample/sample_style.safetensors")]
    workflows = [n for n in names if n.endswith("/train_and_stylize_sample.json")]
    assert len(samples) == 1 and len(workflows) == 1, (samples, workflows)


def test_pyproject_says_which_comfyui_the_pack_needs():
    comfy = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["comfy"]
    assert comfy["requires-comfyui"].startswith(">=")  # the registry's key; validate checks its format
    assert comfy["PublisherId"] and comfy["DisplayName"] == "patch-toon"


def test_the_publish_workflow_publishes_on_a_version_change_with_the_registry_secret():
    workflow = (REPO / ".github" / "workflows" / "publish.yml").read_text()
    assert "Comfy-Org/publish-node-action@" in workflow
    assert "${{ secrets.REGISTRY_ACCESS_TOKEN }}" in workflow  # a repository secret, never a token in the file
    assert "branches: [main]" in workflow and '- "pyproject.toml"' in workflow
    assert "fetch-depth: 2" in workflow  # the previous commit's pyproject.toml, to compare the versions
