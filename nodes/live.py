"""The live panel's server side: one live session per server (patch_training.pipeline.live), driven by routes.

The panel (web/live_panel.js) names a clip and, optionally, a folder of keyframes from the same list as Load
Frames' source (ComfyUI's input folder, or the bundled sample); the session trains on them without end, keeps a
strip of the clip current and takes keyframe edits posted from the page. "Keep" saves the current model into the
pack's models folder under a new name (Load Patch Model lists it). Any prompt queued stops the session (it needs
the device), said in the session's status.

- GET  /patch_toon/live: {"session": <status> or null, "sources": [clip choices]}
- POST /patch_toon/live/start {"frames": "<source>", "keyframes": "<source folder>" or ""}: <status>
- GET  /patch_toon/live/{session}: <status> (steps, keyframes, strip frames, messages, saves, why it stopped)
- GET  /patch_toon/live/{session}/strip/{position}.png|.jpg: the strip's frame at that position, stylized
- GET  /patch_toon/live/{session}/keyframe/{frame}.png: the keyframe trained on at that frame (404: none)
- GET  /patch_toon/live/{session}/frame/{frame}.png: the clip's frame itself (to paint a new keyframe over)
- POST /patch_toon/live/{session}/keyframe/{frame}: a PNG or JPEG (the body): trained on from the next step
- POST /patch_toon/live/{session}/keep {"filename_prefix": "patch_toon/live"}: {"saved": "<model name>", ...}
- POST /patch_toon/live/{session}/stop: <status>

Bad bodies, unknown session ids and frames, images of another aspect ratio are answered 4xx with what was
expected and what was received; nothing outside ComfyUI's input folder (and the sample) is read.
"""
from __future__ import annotations

import asyncio
import collections
import io
import json
import logging
import re
import secrets
import threading
import time
from pathlib import Path

import folder_paths
import numpy as np
import torch
from aiohttp import web
from PIL import Image
from server import PromptServer

from patch_training.errors import PatchToonError
from patch_training.frames.sources import to_uint8
from patch_training.memory import training_bytes
from patch_training.model.checkpoint import save_model
from patch_training.pipeline.live import LiveSession, LiveSettings
from patch_training.pipeline.train_files import TrainOptions
from ._common import compute_device, make_room, models_dir
from .frames import frame_sources, source_path
from .routes import _bounded_body, _error

log = logging.getLogger(__name__)

MAX_JSON_BODY = 2048          # bytes: {"frames": "...", "keyframes": "..."}
MAX_IMAGE_BODY = 32 << 20     # bytes of an uploaded keyframe (a 4K PNG is ~25 MB)
MAX_IMAGE_PIXELS = 40_000_000  # decoded size refused above this (a decompression bomb), before decoding
MAX_MESSAGES = 50              # lines of the session's log kept for the panel
SESSION_PATTERN = re.compile(r"^[0-9a-f]{32}$")
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{1,64}(/[A-Za-z0-9_\-]{1,64}){0,3}$")
STRIP_FORMATS = {"png": ("PNG", "image/png"), "jpg": ("JPEG", "image/jpeg")}


class _Live:
    """The one live session of this server, what it was started on, and what the panel is told."""

    def __init__(self, frames: str, keyframes: str):
        self.id = secrets.token_hex(16)
        self.frames, self.keyframes = frames, keyframes
        self.messages: collections.deque[str] = collections.deque(maxlen=MAX_MESSAGES)
        self.began = time.monotonic()
        self.session: LiveSession | None = None
        self.stopped: str | None = None   # why the session stopped, once it has
        self.error: str | None = None     # what made it fail
        self.saved: list[dict] = []

    def say(self, line: str) -> None:
        self.messages.append(f"[{time.monotonic() - self.began:6.1f} s] {line}")
        log.info("patch-toon live: %s", line)

    def status(self) -> dict:
        session = self.session
        answer = {"session": self.id, "frames": self.frames, "keyframes_source": self.keyframes,
                  "starting": session is None and self.stopped is None, "running": False, "stopped": self.stopped,
                  "error": self.error, "messages": list(self.messages), "saved": list(self.saved)}
        if session is None:
            return answer
        if session.ended and self.stopped is None:
            self.stopped = "the session ended"
            answer["stopped"] = self.stopped
        if session.error is not None and self.error is None:
            self.error = f"training failed: {session.error}"
            answer["error"] = self.error
        indices, strip = session.strip()
        answer.update(running=session.running and self.stopped is None, steps=session.steps,
                      frame_count=len(session.names), width=session.source.size[1], height=session.source.size[0],
                      keyframes=[{"frame": session.stems.index(Path(name).stem), "name": name, "sha256": sha}
                                 for name, sha in session.keyframes().items()],
                      strip=[{"position": k, "frame": t, "name": session.names[t]} for k, t in enumerate(indices)],
                      strip_ready=strip is not None, refreshes=session.refreshes)
        return answer

    def stop(self, reason: str) -> None:
        if self.stopped is None:
            self.stopped = reason
            self.say(f"stopped: {reason}")
        if self.session is not None:
            try:
                self.session.stop()
            except Exception as exc:  # what failed the training thread: told, not raised into the server
                self.error = self.error or str(exc)


_lock = threading.Lock()
_current: _Live | None = None


def current() -> _Live | None:
    with _lock:
        return _current


def stop_live_session(reason: str) -> bool:
    """Stops the server's live session, if one runs, saying `reason` in its status; True if one was stopped."""
    live = current()
    if live is None or live.stopped is not None:
        return False
    live.stop(reason)
    return True


def _on_prompt(json_data):
    """ComfyUI's on-prompt hook: a queued prompt needs the device, so the live session stops (told in the panel)."""
    live = current()
    if live is not None and live.stopped is None:
        live.stopped = "a prompt was queued: it needs the device. Start the session again when it is done"
        live.say(f"stopped: {live.stopped}")
        threading.Thread(target=live.stop, args=(live.stopped,), name="patch-toon live stop", daemon=True).start()
    return json_data


def _start(live: _Live, frames: Path, keyframes: Path | None) -> None:
    """Reads the clip and starts training (the server's executor thread: reading a clip takes seconds)."""
    try:
        device = compute_device()
        options = TrainOptions(device=device.type if device.type != "mps" else "cpu")
        session = LiveSession(frames, keyframes, options, out=None, settings=LiveSettings(), say=live.say)
        live.say(f"frames: {len(session.frames)} ({session.source.size[1]}x{session.source.size[0]}) from "
                 f"{live.frames}; keyframes from {live.keyframes or 'the panel'}; strip: "
                 f"{[session.names[t] for t in session.strip_indices]}")
        if live.stopped is not None:
            return
        # As Train Patch Model does: ComfyUI unloads its models (a diffusion model) if the device lacks the room.
        h, w = session.source.size
        network = session.config.generator(3 + session.spec.channels)
        make_room(device, training_bytes(network, 4, h, w, session.config.resolved_batch(),
                                         session.config.resolved_patch()), "the live session")
        live.session = session
        session.start()
        if live.stopped is not None:  # stopped while the first keyframes were read
            session.stop()
    except Exception as exc:
        live.error = str(exc)
        live.stopped = live.stopped or f"could not start: {exc}"
        live.say(live.stopped)
        if not isinstance(exc, PatchToonError):
            log.exception("patch-toon live: the session failed to start")


# ------------------------------------------------------------------ checks of what the page sends


async def _json_body(request: web.Request, usage: str, keys: set[str]) -> dict | web.Response:
    body = await _bounded_body(request, MAX_JSON_BODY)
    try:
        data = None if body is None else json.loads(body or b"{}")
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or not set(data) <= keys:
        received = sorted(map(str, data))[:5] if isinstance(data, dict) else "no JSON object"
        return _error(400, f"expected a JSON body of at most {MAX_JSON_BODY} bytes, {usage}; received {received}")
    return data


def _session(request: web.Request) -> _Live | web.Response:
    sid = request.match_info["session"]
    live = current()
    if not SESSION_PATTERN.match(sid) or live is None or live.id != sid:
        return _error(404, f"no live session with id {sid[:40]!r}; GET /patch_toon/live names the current one")
    return live


def _session_frame(request: web.Request) -> tuple[_Live, int] | web.Response:
    """The session and frame index a /patch_toon/live/{session}/.../{frame} request names, or the error reply."""
    live = _session(request)
    if isinstance(live, web.Response):
        return live
    index = _frame_index(live, request.match_info["frame"])
    return index if isinstance(index, web.Response) else (live, index)


def _frame_index(live: _Live, text: str) -> int | web.Response:
    session = live.session
    if session is None:
        return _error(409, "the live session is still reading its clip; try again in a moment")
    count = len(session.names)
    if not re.fullmatch(r"\d{1,9}", text) or int(text) >= count:
        return _error(404, f"frame: expected a frame number from 0 to {count - 1}, received {text[:20]!r}")
    return int(text)


def _png(image: torch.Tensor | np.ndarray, kind: str = "png") -> web.Response:
    array = to_uint8(image[None])[0] if isinstance(image, torch.Tensor) else image
    buffer = io.BytesIO()
    pil_format, mime = STRIP_FORMATS[kind]
    Image.fromarray(array).save(buffer, format=pil_format, **({"compress_level": 1} if kind == "png" else
                                                                {"quality": 90}))
    return web.Response(body=buffer.getvalue(), content_type=mime, headers={"Cache-Control": "no-store"})


def decode_keyframe(data: bytes) -> torch.Tensor:
    """An uploaded PNG or JPEG -> [H, W, 3] uint8; PatchToonError when it is neither or too large to decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("PNG", "JPEG"):
                raise PatchToonError(f"keyframe: expected a PNG or JPEG image, received a {image.format} file.")
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise PatchToonError(f"keyframe: expected at most {MAX_IMAGE_PIXELS:,} pixels, received "
                                     f"{image.width}x{image.height}.")
            if image.mode in ("RGBA", "LA", "P"):  # painted over a transparent canvas: transparent is white
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                array = np.asarray(flat)
            else:
                array = np.asarray(image.convert("RGB"))
    except PatchToonError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PatchToonError(f"keyframe: expected a PNG or JPEG image, received {len(data)} bytes that do not "
                             f"decode as one ({exc}).") from None
    return torch.from_numpy(array.copy())


# ------------------------------------------------------------------ routes

routes = PromptServer.instance.routes
PromptServer.instance.add_on_prompt_handler(_on_prompt)


@routes.get("/patch_toon/live")
async def live_overview(request: web.Request) -> web.Response:
    live = current()
    return web.json_response({"session": None if live is None else live.status(), "sources": frame_sources()})


@routes.post("/patch_toon/live/start")
async def live_start(request: web.Request) -> web.Response:
    global _current
    usage = '{"frames": "<a clip from GET /patch_toon/live sources>", "keyframes": "<a folder of them, or \'\'>"}'
    data = await _json_body(request, usage, {"frames", "keyframes"})
    if isinstance(data, web.Response):
        return data
    frames, keyframes = data.get("frames"), data.get("keyframes", "")
    sources = frame_sources()
    if not isinstance(frames, str) or frames not in sources:
        return _error(400, f'"frames": expected one of the clips {sources[:8]}, received {repr(frames)[:80]}')
    if not isinstance(keyframes, str) or keyframes and keyframes not in sources:
        return _error(400, f'"keyframes": expected "" (edits from the panel only) or a folder of {sources[:8]}, '
                           f"received {repr(keyframes)[:80]}")
    frames_path = source_path(frames)
    keyframes_path = source_path(keyframes) if keyframes else None
    if keyframes_path is not None and not keyframes_path.is_dir():
        return _error(400, f'"keyframes": expected a folder of stylized keyframes named like the frames, '
                           f"received {keyframes!r}, which is a file")
    with _lock:
        if _current is not None and _current.stopped is None:
            return _error(409, f"a live session runs already (on {_current.frames!r}); stop it first: one live "
                               f"session per server")
        live = _current = _Live(frames, keyframes)
    asyncio.get_running_loop().run_in_executor(None, _start, live, frames_path, keyframes_path)
    return web.json_response(live.status())


@routes.get("/patch_toon/live/{session}")
async def live_status(request: web.Request) -> web.Response:
    live = _session(request)
    return live if isinstance(live, web.Response) else web.json_response(live.status())


@routes.get(r"/patch_toon/live/{session}/strip/{position:\d{1,3}}.{kind:png|jpg}")
async def live_strip(request: web.Request) -> web.Response:
    live = _session(request)
    if isinstance(live, web.Response):
        return live
    if live.session is None:
        return _error(409, "the live session is still reading its clip; try again in a moment")
    indices, strip = live.session.strip()
    position = int(request.match_info["position"])
    if position >= len(indices):
        return _error(404, f"strip position: expected 0 to {len(indices) - 1}, received {position}")
    if strip is None:
        return _error(409, "no strip yet: it is rendered after the first keyframe is taken")
    return _png(strip[position], request.match_info["kind"])


@routes.get(r"/patch_toon/live/{session}/{what:keyframe|frame}/{frame}.png")
async def live_image(request: web.Request) -> web.Response:
    found = _session_frame(request)
    if isinstance(found, web.Response):
        return found
    live, index = found
    if request.match_info["what"] == "frame":
        return _png(live.session.frames[index])
    image = live.session.keyframe_image(index)
    if image is None:
        return _error(404, f"frame {index} is no keyframe of this session; GET .../frame/{index}.png is the frame")
    return _png(image)


@routes.post("/patch_toon/live/{session}/keyframe/{frame}")
async def live_replace_keyframe(request: web.Request) -> web.Response:
    found = _session_frame(request)
    if isinstance(found, web.Response):
        return found
    live, index = found
    body = await _bounded_body(request, MAX_IMAGE_BODY)
    if body is None:
        return _error(413, f"keyframe: expected a PNG or JPEG of at most {MAX_IMAGE_BODY >> 20} MB")
    try:
        image = decode_keyframe(body)
        notes = live.session.check_keyframe(index, image)
    except PatchToonError as exc:
        return _error(400, str(exc))
    live.session.replace_keyframe(index, image, label=f"{live.session.names[index]} (from the panel)")
    return web.json_response({"frame": index, "name": live.session.names[index], "notes": notes,
                              "steps": live.session.steps})


@routes.post("/patch_toon/live/{session}/keep")
async def live_keep(request: web.Request) -> web.Response:
    live = _session(request)
    if isinstance(live, web.Response):
        return live
    data = await _json_body(request, '{"filename_prefix": "patch_toon/live"}', {"filename_prefix"})
    if isinstance(data, web.Response):
        return data
    prefix = data.get("filename_prefix", "patch_toon/live")
    if not isinstance(prefix, str) or not PREFIX_PATTERN.match(prefix):
        return _error(400, f'"filename_prefix": expected a name such as "patch_toon/live" (letters, digits, _ - '
                           f"and up to 3 folders), received {repr(prefix)[:80]}")
    if live.session is None or live.session.trainer is None:
        return _error(409, "no model yet: the session trains from its first keyframe on")
    # In the executor: the copy waits for the training step under way, which the event loop must not.
    model = await asyncio.get_running_loop().run_in_executor(None, live.session.keep_model)
    root = models_dir()
    folder, name, counter, _, _ = folder_paths.get_save_image_path(prefix, root)
    try:
        path = save_model(model, Path(folder) / f"{name}_{counter:05}_.safetensors")  # refuses to overwrite
    except PatchToonError as exc:
        return _error(409, str(exc))
    saved = {"saved": Path(path).relative_to(root).as_posix(), "steps": model.summary.steps,
             "keyframes": sorted(live.session.keyframes())}
    live.saved.append(saved)
    live.say(f"kept the model at step {saved['steps']} as {saved['saved']} in the patch_toon models folder: "
             f"Load Patch Model lists it")
    return web.json_response(saved)


@routes.post("/patch_toon/live/{session}/stop")
async def live_stop(request: web.Request) -> web.Response:
    live = _session(request)
    if isinstance(live, web.Response):
        return live
    await asyncio.get_running_loop().run_in_executor(None, live.stop, "stopped from the panel")
    return web.json_response(live.status())
