"""The library's stages import only the stages below them, at module level and inside functions alike."""
import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "patch_training"

# Lowest first. A module may import its own stage and any stage listed before it, never one after it.
LAYERS = [
    {"errors", "config", "runtime", "keyframes", "metrics"},  # foundation: no stage's code
    {"guides"},                  # flow and guides (a GuideSpec is data: checkpoints store it)
    {"model"},                   # networks, StyleModel, checkpoint, prior
    {"memory", "frames"},        # estimates (of networks and guides); clips in and out, keyframe choice
    {"stylize"},                 # tiled and streamed inference, what a model needs to stylize
    {"train"},                   # the loop (its previews are stylized), training with guides
    {"pipeline"},                # files in, files out
    {"batch"},                   # many shots, on worker processes or Ray
    {"cli", "cli_keyframes", "__main__", "__init__"},  # the command line; the package's lazy public API
    #                                                  names every stage
]


def _stage(module: str) -> str:
    """'patch_training.train.loop' -> 'train'; 'patch_training.errors' -> 'errors'; the package -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _rank(stage: str) -> int:
    for rank, layer in enumerate(LAYERS):
        if stage in layer:
            return rank
    raise AssertionError(f"patch_training/{stage}: not placed in LAYERS; place the new stage or module there")


def _imports(path: Path) -> set[str]:
    """The patch_training modules a file imports, resolved to absolute names (relative imports included)."""
    module = "patch_training." + ".".join(path.relative_to(LIB).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name == "patch_training" and not node.level:
                found.update(f"patch_training.{a.name}" for a in node.names if a.name != "__version__")
            elif name.startswith("patch_training"):
                # `from .. import memory` names a module; `from .. import __version__` the package itself
                found.update(f"{name}.{a.name}" if name == "patch_training" and a.name != "__version__" else name
                             for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("patch_training."))
    return found


FILES = sorted(p for p in LIB.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(LIB)))
def test_a_stage_imports_only_the_stages_below_it(path):
    own = _stage("patch_training." + ".".join(path.relative_to(LIB).with_suffix("").parts))
    if own == "__init__":
        return  # the lazy public API: it imports nothing at module level
    upward = sorted(name for name in _imports(path)
                    if _stage(name) not in ("__init__", own) and _rank(_stage(name)) > _rank(own))
    assert not upward, f"{path.relative_to(LIB.parent)} ({own}) imports higher stages: {upward}"


def test_every_library_folder_is_a_stage_in_the_layers():
    folders = {p.name for p in LIB.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in LIB.glob("*.py")}
    for stage in folders | modules:
        _rank(stage)


def test_the_package_imports_no_stage_until_a_name_is_used():
    tree = ast.parse((LIB / "__init__.py").read_text(encoding="utf-8"))
    eager = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
             and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
             and not (isinstance(n, ast.Import) and [a.name for a in n.names] == ["importlib"])]
    assert not eager, f"patch_training/__init__.py imports at load time (torch would be needed): {eager}"


SIZED = FILES + sorted(p for p in (LIB.parent / "nodes").rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", SIZED, ids=lambda p: str(p.relative_to(LIB.parent)))
def test_no_file_over_400_lines_nor_function_over_80(path):
    """The library and nodes/ stay readable: a longer file or function is split by what its parts do."""
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    assert lines <= 400, f"{path.relative_to(LIB.parent)}: {lines} lines; split it (at most 400)"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80]
    assert not long, f"{path.relative_to(LIB.parent)}: functions over 80 lines: {long}"
