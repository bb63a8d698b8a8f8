"""Test harness: a real ComfyUI (March 2024) server with this repo installed as a custom node pack.

- setup_host.py builds the host once under <repo>/.cache/comfyui-2024 (`python tests/comfy_host/setup_host.py`).
- ComfyServer starts a server on a private copy of it and drives it over HTTP (queue, wait, files).
- ui_to_api converts a workflow saved by ComfyUI's page into the API prompt that POST /prompt takes.
"""

from . import setup_host
from .server import (
    THREADS_ENV,
    ComfyError,
    ComfyServer,
    PromptFailed,
    PromptRejected,
    ServerStartError,
    free_port,
    output_files,
)
from .workflow import WorkflowError, ui_to_api

__all__ = [
    "THREADS_ENV", "ComfyError", "ComfyServer", "PromptFailed", "PromptRejected", "ServerStartError",
    "WorkflowError", "free_port", "output_files", "setup_host", "ui_to_api",
]
