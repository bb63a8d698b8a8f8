"""A real ComfyUI server for tests: started on a private copy of the host, driven over HTTP.

The host (ComfyUI of March 2024 and its venv) is built by setup_host.py. Each ComfyServer runs
on a fresh copy of that ComfyUI folder in a temporary directory, so that everything a run
writes (user/, models/, output/, input/, temp/) lands there and never in the cache: March
2024's main.py has --output-directory, --input-directory and --temp-directory, but no
--base-directory or --user-directory. The copy is ~5 MB and takes well under a second.

Only the standard library is used: the tests run in the repo's venv, which has no aiohttp.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from . import setup_host

# Torch threads of the server process. The server shares 2 cores with pytest: measured on this
# kind of machine, 2 intra-op threads on a busy CPU ran about 10x slower than 1 (spin-waits).
THREADS_ENV = "PATCH_TOON_COMFY_THREADS"
DEFAULT_THREADS = 1
OWN_CLIENT = object()  # queue()'s default client_id: the server object's own


class ComfyError(RuntimeError):
    """Something went wrong with the test ComfyUI server; the message carries its log tail."""


class ServerStartError(ComfyError):
    """The server exited or did not answer /object_info in time."""


class PromptRejected(ComfyError):
    """POST /prompt refused the prompt (validation). `error` and `node_errors` are ComfyUI's JSON."""

    def __init__(self, message: str, error: dict, node_errors: dict):
        super().__init__(message)
        self.error = error
        self.node_errors = node_errors


class PromptFailed(ComfyError):
    """The prompt was accepted but its execution failed or was interrupted.

    Fields come from ComfyUI's `execution_error` message: node_id, node_type,
    exception_type, exception_message, traceback (a list of lines); `interrupted` is True
    for `execution_interrupted`. `entry` is the whole /history entry.
    """

    def __init__(self, message: str, entry: dict, details: dict, interrupted: bool):
        super().__init__(message)
        self.entry = entry
        self.interrupted = interrupted
        self.node_id = details.get("node_id")
        self.node_type = details.get("node_type")
        self.exception_type = details.get("exception_type")
        self.exception_message = details.get("exception_message")
        self.traceback = details.get("traceback", [])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ComfyServer:
    """One ComfyUI process on 127.0.0.1, with the repo linked as custom_nodes/patch-toon.

    Usage: `with ComfyServer() as server: server.run(api_prompt)`; or start()/stop().
    Paths: `root` (the private ComfyUI copy), `output_dir`, `input_dir`, `temp_dir`,
    `log_path`. The host must have been built (setup_host.ensure()).
    """

    def __init__(self, threads: int | None = None, extra_args: tuple[str, ...] = (),
                 pack_dir: Path | None = None, harness_nodes: bool = False, env: dict | None = None,
                 other_packs: dict[str, Path] | None = None):
        self.threads = threads if threads is not None else int(os.environ.get(THREADS_ENV, DEFAULT_THREADS))
        self.extra_args = tuple(extra_args)
        self.pack_dir = Path(pack_dir) if pack_dir is not None else setup_host.REPO
        self.harness_nodes = harness_nodes  # adds HarnessFail and HarnessWait (harness_nodes.py)
        self.env = dict(env or {})  # extra environment variables of the server process
        self.other_packs = dict(other_packs or {})  # more custom nodes: {folder name: path}, linked beside ours
        self.client_id = uuid.uuid4().hex
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.workdir: Path | None = None
        self.start_seconds: float | None = None
        self._log_handle = None

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def root(self) -> Path:
        return self._dir("ComfyUI")

    @property
    def output_dir(self) -> Path:
        return self._dir("output")

    @property
    def input_dir(self) -> Path:
        return self._dir("input")

    @property
    def temp_dir(self) -> Path:
        return self._dir("temp") / "temp"  # main.py appends "temp" to --temp-directory

    @property
    def log_path(self) -> Path:
        return self._dir("server.log")

    def _dir(self, name: str) -> Path:
        if self.workdir is None:
            raise ComfyError("the server has not been started: call start() first")
        return self.workdir / name

    def start(self, port: int | None = None, timeout: float = 180.0) -> "ComfyServer":
        """Copies the host, starts main.py and waits until /object_info answers."""
        if not setup_host.is_up_to_date():
            raise ServerStartError(
                "the ComfyUI test host is missing or stale: run `python tests/comfy_host/setup_host.py`")
        started = time.perf_counter()
        self.workdir = Path(tempfile.mkdtemp(prefix="patch-toon-comfy-"))
        shutil.copytree(setup_host.COMFY_DIR, self.root, symlinks=True)
        setup_host.link_pack(self.root, self.pack_dir)
        for name, path in self.other_packs.items():
            (self.root / "custom_nodes" / name).symlink_to(Path(path).resolve(), target_is_directory=True)
        if self.harness_nodes:
            shutil.copyfile(Path(__file__).with_name("harness_nodes.py"),
                            self.root / "custom_nodes" / "comfy_host_harness_nodes.py")
        for name in ("output", "input", "temp"):
            (self.workdir / name).mkdir()
        self.port = port or free_port()
        cmd = [str(setup_host.venv_python()), "main.py", "--cpu", "--listen", "127.0.0.1",
               "--port", str(self.port), "--disable-auto-launch",
               "--output-directory", str(self.output_dir),
               "--input-directory", str(self.input_dir),
               "--temp-directory", str(self.workdir / "temp"), *self.extra_args]
        self._log_handle = open(self.log_path, "wb")
        self.process = subprocess.Popen(cmd, cwd=self.root, env=self._environment(), stdin=subprocess.DEVNULL,
                                        stdout=self._log_handle, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started
        return self

    def _environment(self) -> dict:
        env = {key: value for key, value in os.environ.items()
               if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        threads = str(self.threads)
        env.update({
            "PYTHONPATH": str(setup_host.STUBS_DIR),  # the stand-in torchvision
            "PYTHONUNBUFFERED": "1",  # the log is complete when a test fails
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            # Nothing may be fetched at run time.
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        })
        env.update(self.env)
        return env

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"ComfyUI exited with code {self.process.returncode} while starting.\n{self.log_tail()}")
            try:
                self._request("GET", "/object_info", timeout=10)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        raise ServerStartError(f"ComfyUI did not answer /object_info within {timeout:.0f} s.\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Terminates the server (SIGTERM, then SIGKILL) and removes its temporary folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def cleanup(self) -> None:
        """Stops the server and deletes its folder (log, outputs). Call after reading what you need."""
        self.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "ComfyServer":
        return self if self.process is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        if self.workdir is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return "---- ComfyUI log (last %d lines) ----\n%s\n---- end of log ----" % (len(tail), "\n".join(tail))

    # ----------------------------------------------------------------- HTTP API

    def _request(self, method: str, path: str, body: dict | None = None, timeout: float = 30.0) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()

    def _json(self, method: str, path: str, body: dict | None = None, timeout: float = 30.0):
        raw = self._request(method, path, body, timeout)
        return json.loads(raw) if raw else None

    def object_info(self, node_class: str | None = None) -> dict:
        """GET /object_info (all node definitions) or /object_info/<node_class>."""
        if node_class is None:
            return self._json("GET", "/object_info")
        return self._json("GET", "/object_info/" + urllib.parse.quote(node_class))

    def queue(self, api_prompt: dict, extra_data: dict | None = None, client_id: str | None | object = OWN_CLIENT) -> str:
        """POST /prompt; returns the prompt id.

        `client_id`: the page the server reports this prompt's progress to (default: this object's own id,
        which no page uses); None queues it without one, as a script that opens no websocket does.
        Raises PromptRejected with ComfyUI's `error` and `node_errors` when the prompt is invalid,
        and also when it was queued with some output nodes left out for their errors.
        """
        body = {"prompt": api_prompt}
        client_id = self.client_id if client_id is OWN_CLIENT else client_id
        if client_id is not None:
            body["client_id"] = client_id
        if extra_data:
            body["extra_data"] = extra_data
        try:
            answer = self._json("POST", "/prompt", body)
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")
            try:
                payload = json.loads(text)
            except ValueError:
                raise ComfyError(f"POST /prompt answered HTTP {err.code}: {text}\n{self.log_tail()}") from None
            error, node_errors = payload.get("error", {}), payload.get("node_errors", {})
            raise PromptRejected(
                f"ComfyUI rejected the prompt: {_describe_rejection(error, node_errors)}",
                error, node_errors) from None
        if answer.get("node_errors"):
            # Valid outputs were queued, the others dropped: a silent partial run is not a pass.
            self._request("POST", "/queue", {"delete": [answer["prompt_id"]]})
            raise PromptRejected(
                "ComfyUI queued only part of the prompt: "
                + _describe_rejection({}, answer["node_errors"]), {}, answer["node_errors"])
        return answer["prompt_id"]

    def history(self, prompt_id: str | None = None) -> dict:
        return self._json("GET", "/history" + (f"/{prompt_id}" if prompt_id else ""))

    def wait(self, prompt_id: str, timeout: float = 300.0, poll: float = 0.2) -> dict:
        """Polls /history/<id> until the prompt is done; returns its history entry.

        Raises PromptFailed (execution error or interrupt), ComfyError if the server died,
        TimeoutError after `timeout` seconds (the prompt keeps running: call interrupt()).
        """
        deadline = time.monotonic() + timeout
        while True:
            entry = self.history(prompt_id).get(prompt_id)
            if entry is not None and entry.get("status", {}).get("completed") is not None:
                break
            if not self.is_running():
                raise ComfyError(f"ComfyUI exited while running prompt {prompt_id}.\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"prompt {prompt_id} not done after {timeout:.0f} s.\n{self.log_tail()}")
            time.sleep(poll)
        status = entry["status"]
        if status.get("status_str") != "success":
            messages = dict((event, data) for event, data in status.get("messages", []))
            interrupted = "execution_interrupted" in messages
            details = messages.get("execution_error") or messages.get("execution_interrupted") or {}
            if interrupted:
                summary = f"interrupted in node {details.get('node_id')} ({details.get('node_type')})"
            else:
                summary = (f"node {details.get('node_id')} ({details.get('node_type')}) raised "
                           f"{details.get('exception_type')}: {details.get('exception_message')}")
            trace = "".join(details.get("traceback", []))
            raise PromptFailed(f"prompt {prompt_id} failed: {summary}\n{trace}", entry, details, interrupted)
        return entry

    def run(self, api_prompt: dict, timeout: float = 300.0) -> dict:
        """queue() then wait(): the history entry of a successful run."""
        return self.wait(self.queue(api_prompt), timeout)

    def running_prompt_ids(self) -> list[str]:
        """Ids of the prompts executing now (GET /queue, queue_running)."""
        return [item[1] for item in self._json("GET", "/queue").get("queue_running", [])]

    def interrupt(self, prompt_id: str | None = None, timeout: float = 30.0) -> bool:
        """POST /interrupt once a prompt is running (`prompt_id`'s, when given); True if sent.

        ComfyUI of March 2024 keeps the interrupt flag set when nothing is running and then
        interrupts the next prompt's first node that checks it; hence the wait for a running one.
        The running node stops when it next calls throw_exception_if_processing_interrupted().
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = self.running_prompt_ids()
            if running and (prompt_id is None or prompt_id in running):
                self._request("POST", "/interrupt", {})
                return True
            if prompt_id is not None and prompt_id in self.history(prompt_id):
                return False  # already finished
            time.sleep(0.05)
        return False

    def custom_node_module(self, name: str = setup_host.PACK_LINK_NAME) -> dict | None:
        """What a custom node module exported once ComfyUI imported it (needs harness_nodes=True).

        Keys: file, NODE_CLASS_MAPPINGS (sorted node ids), NODE_DISPLAY_NAME_MAPPINGS,
        WEB_DIRECTORY, SEARCH_ALIASES ({node id: its classes' SEARCH_ALIASES, as newer servers send
        them}). None when ComfyUI did not import it (see the log for why).
        """
        if not self.harness_nodes:
            raise ComfyError("custom_node_module() needs ComfyServer(harness_nodes=True)")
        try:
            return self._json("GET", "/comfy_host/custom_node_module?" + urllib.parse.urlencode({"name": name}))
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def get_file(self, filename: str, subfolder: str = "", type: str = "output") -> bytes:
        """GET /view: the bytes of an output/input/temp file, as the page would load it."""
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": type})
        return self._request("GET", "/view?" + query)

    def add_input(self, path: Path | str, name: str | None = None) -> str:
        """Copies a file into the server's input folder (where LoadImage looks); returns its name."""
        path = Path(path)
        name = name or path.name
        shutil.copyfile(path, self.input_dir / name)
        return name


def output_files(entry: dict) -> list[dict]:
    """Every file listed in a history entry's outputs: dicts with filename, subfolder, type."""
    files = []
    for node_output in entry.get("outputs", {}).values():
        for items in node_output.values():
            if isinstance(items, list):
                files.extend(item for item in items if isinstance(item, dict) and "filename" in item)
    return files


def _describe_rejection(error: dict, node_errors: dict) -> str:
    parts = []
    if error:
        parts.append(f"{error.get('type')}: {error.get('message')} {error.get('details') or ''}".strip())
    for node_id, info in node_errors.items():
        for err in info.get("errors", []):
            parts.append(f"node {node_id} ({info.get('class_type')}): {err.get('message')}: {err.get('details')}")
    return "; ".join(parts) or "no details"
