"""A server of a newer ComfyUI than the March-2024 test host, set up by hand: for the checks that need what the
2024 one lacks (core's VIDEO type, Load Video, Save Video). Not built by the test suite: PATCH_TOON_TODAY_COMFY names
a folder holding `ComfyUI/` (a checkout with its requirements installed), `venv/` (its Python) and optionally
`stubs/` (importable stand-ins, put on its PYTHONPATH). Each server gets a private base directory (custom_nodes with
this repo linked, models, input, output, temp, user): nothing is shared with other servers.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from .server import ComfyServer, free_port

TODAY_ENV = "PATCH_TOON_TODAY_COMFY"


def today_folder() -> Path | None:
    """The folder PATCH_TOON_TODAY_COMFY names, or None when it is not set."""
    value = os.environ.get(TODAY_ENV)
    return Path(value) if value else None


class TodayServer(ComfyServer):
    """ComfyServer on a newer ComfyUI (`folder`: see the module), started with --base-directory."""

    def __init__(self, folder: Path, **kwargs):
        super().__init__(**kwargs)
        self.folder = Path(folder)

    @property
    def root(self) -> Path:
        return self._dir(".")  # the base directory: models/ and custom_nodes/ are under it

    @property
    def temp_dir(self) -> Path:
        return self._dir("temp")

    def start(self, port: int | None = None, timeout: float = 300.0) -> "TodayServer":
        comfy, python = self.folder / "ComfyUI", self.folder / "venv" / "bin" / "python"
        if not (comfy / "main.py").is_file() or not python.exists():
            raise FileNotFoundError(f"{TODAY_ENV}={self.folder}: expected ComfyUI/main.py and venv/bin/python in it")
        self.workdir = Path(tempfile.mkdtemp(prefix="patch-toon-today-"))
        for name in ("custom_nodes", "models", "input", "output", "temp", "user"):
            (self.workdir / name).mkdir()
        (self.workdir / "custom_nodes" / "patch-toon").symlink_to(self.pack_dir, target_is_directory=True)
        for name, path in self.other_packs.items():
            (self.workdir / "custom_nodes" / name).symlink_to(Path(path).resolve(), target_is_directory=True)
        self.port = port or free_port()
        cmd = [str(python), "main.py", "--cpu", "--disable-api-nodes", "--listen", "127.0.0.1", "--port",
               str(self.port), "--disable-auto-launch", "--base-directory", str(self.workdir), *self.extra_args]
        env = self._environment()
        stubs = self.folder / "stubs"
        env["PYTHONPATH"] = str(stubs) if stubs.is_dir() else ""
        self._log_handle = open(self.log_path, "wb")
        self.process = subprocess.Popen(cmd, cwd=comfy, env=env, stdin=subprocess.DEVNULL, stdout=self._log_handle,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self
