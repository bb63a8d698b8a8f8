"""`python -m patch_training` and the `patch-toon` command: the CLI, with a plain message when torch is missing."""
import importlib.util
import sys


def main() -> int:
    if importlib.util.find_spec("torch") is None:
        # torch is deliberately not a dependency of the package (see pyproject.toml): say how to get it.
        print("error: patch-toon needs PyTorch, which is not installed in this Python environment "
              f"({sys.executable}). Install it: `pip install patch-toon[torch]`, or the build for your "
              "machine from https://pytorch.org (e.g. `pip install torch --index-url "
              "https://download.pytorch.org/whl/cpu`).", file=sys.stderr)
        return 2
    from .cli import main as cli_main
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
