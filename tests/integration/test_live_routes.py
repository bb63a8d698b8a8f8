"""The live panel's routes (nodes/live.py) on a real ComfyUI: a session on the sample, edits, Keep, stop."""

import hashlib
import io
import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from patch_training.model.checkpoint import read_metadata

SAMPLE = "[patch-toon sample] frames"
SAMPLE_KEYS = "[patch-toon sample] keyframes"


def call(comfy, method, path, data: bytes | None = None, content_type="application/json"):
    """(status, body bytes, content type) of a request with exactly these body bytes."""
    request = urllib.request.Request(comfy.base_url + path, data=data, method=method,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("Content-Type", "")


def call_json(comfy, method, path, body=None):
    status, data, _ = call(comfy, method, path, None if body is None else json.dumps(body).encode())
    return status, json.loads(data)


def until(comfy, sid, predicate, what, seconds=240.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, answer = call_json(comfy, "GET", f"/patch_toon/live/{sid}")
        assert status == 200, answer
        assert not answer["error"], answer
        if predicate(answer):
            return answer
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {answer}")


def png_of(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def strip_image(comfy, sid, position):
    status, data, kind = call(comfy, "GET", f"/patch_toon/live/{sid}/strip/{position}.png")
    assert status == 200 and kind == "image/png", data[:200]
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.float32)


@pytest.fixture()
def stopped_after(comfy):
    """Stops whatever live session a test left running."""
    yield
    status, answer = call_json(comfy, "GET", "/patch_toon/live")
    if answer["session"] and answer["session"]["stopped"] is None:
        call(comfy, "POST", f"/patch_toon/live/{answer['session']['session']}/stop", b"")


BAD_START_BODIES = [
    b"", b"not json", b"[1]", b'{"frames": 4}', b'{"frames": "../../etc"}', b'{"frames": "/etc"}',
    b'{"frames": "no_such_clip/"}', b'{"frames": "' + SAMPLE.encode() + b'", "keyframes": "/tmp"}',
    b'{"frames": "' + SAMPLE.encode() + b'", "other": 1}', b'{"frames": "' + b"x" * 5000 + b'"}',
]


def test_start_refuses_bodies_that_name_no_known_clip(comfy, stopped_after):
    for body in BAD_START_BODIES:
        status, data, _ = call(comfy, "POST", "/patch_toon/live/start", body)
        assert status == 400 and json.loads(data)["error"], (body[:50], status, data[:200])
    assert call_json(comfy, "GET", "/patch_toon/live")[1]["session"] is None or \
        call_json(comfy, "GET", "/patch_toon/live")[1]["session"]["stopped"] is not None


@pytest.mark.parametrize("path", [
    "/patch_toon/live/0123456789abcdef0123456789abcdef", "/patch_toon/live/..%2F..%2Fetc",
    "/patch_toon/live/0123456789abcdef0123456789abcdef/strip/0.png",
    "/patch_toon/live/0123456789abcdef0123456789abcdef/keyframe/0.png",
])
def test_an_unknown_session_id_is_not_found(comfy, path):
    assert call(comfy, "GET", path)[0] == 404


def test_a_session_on_the_sample_follows_an_edited_keyframe_and_keeps_its_model(comfy, stopped_after):
    status, started = call_json(comfy, "POST", "/patch_toon/live/start",
                                {"frames": SAMPLE, "keyframes": SAMPLE_KEYS})
    assert status == 200, started
    sid = started["session"]
    assert call_json(comfy, "POST", "/patch_toon/live/start", {"frames": SAMPLE})[0] == 409  # one per server
    ready = until(comfy, sid, lambda s: s.get("strip_ready") and s["steps"] > 5, "training and a strip")
    assert [k["name"] for k in ready["keyframes"]] == ["00000.png", "00014.png", "00031.png"]
    assert [item["frame"] for item in ready["strip"]] == [0, 8, 16, 23, 31]
    base = f"/patch_toon/live/{sid}"
    w, h = ready["width"], ready["height"]

    # Refused edits, by name: not an image, another aspect ratio, no such frame, too large a body.
    assert call(comfy, "POST", f"{base}/keyframe/8", b"not an image", "image/png")[0] == 400
    status, data, _ = call(comfy, "POST", f"{base}/keyframe/8", png_of(np.zeros((h, w * 2, 3), np.uint8)))
    assert status == 400 and b"aspect ratio" in data
    assert call(comfy, "POST", f"{base}/keyframe/32", png_of(np.zeros((h, w, 3), np.uint8)))[0] == 404
    assert call(comfy, "POST", f"{base}/keyframe/8", b"\x89PNG" + b"0" * (33 << 20))[0] == 413
    bomb = io.BytesIO()
    Image.new("L", (8000, 6000)).save(bomb, format="PNG")  # 48 megapixels in a few kB: refused before decoding
    status, data, _ = call(comfy, "POST", f"{base}/keyframe/8", bomb.getvalue())
    assert status == 400 and b"pixels" in data and len(bomb.getvalue()) < 1 << 20
    gif = io.BytesIO()
    Image.new("RGB", (w, h)).save(gif, format="GIF")
    status, data, _ = call(comfy, "POST", f"{base}/keyframe/8", gif.getvalue())
    assert status == 400 and b"PNG or JPEG" in data
    assert call(comfy, "GET", f"{base}/keyframe/8.png")[0] == 404  # no keyframe there yet
    status, data, kind = call(comfy, "GET", f"{base}/frame/8.png")
    assert status == 200 and Image.open(io.BytesIO(data)).size == (w, h)
    status, data, kind = call(comfy, "GET", f"{base}/strip/4.jpg")
    assert status == 200 and kind == "image/jpeg" and Image.open(io.BytesIO(data)).format == "JPEG"
    assert call_json(comfy, "GET", "/patch_toon/live")[1]["session"]["session"] == sid  # a page opened later finds it
    assert call(comfy, "GET", f"{base}/strip/9.png")[0] == 404

    # Every keyframe replaced by flat green: the strip turns green.
    before = strip_image(comfy, sid, 1)
    green = np.zeros((h, w, 3), np.uint8)
    green[..., 1] = 220
    for frame in (0, 14, 31):
        status, data, _ = call(comfy, "POST", f"{base}/keyframe/{frame}", png_of(green), "image/png")
        answer = json.loads(data)
        assert status == 200 and answer["frame"] == frame, answer
    sha = hashlib.sha256(green.tobytes()).hexdigest()
    until(comfy, sid, lambda s: all(k["sha256"] == sha for k in s["keyframes"]), "the edits taken")

    def greener(_):
        after = strip_image(comfy, sid, 1)
        return np.abs(after - [0, 220, 0]).mean() < 0.5 * np.abs(before - [0, 220, 0]).mean()
    until(comfy, sid, greener, "the strip to follow the green keyframes")
    status, data, _ = call(comfy, "GET", f"{base}/keyframe/14.png")
    assert status == 200 and np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), green)

    # Keep: a new model in the models folder, never one saved over.
    bad = call_json(comfy, "POST", f"{base}/keep", {"filename_prefix": "../escape"})
    assert bad[0] == 400
    first = call_json(comfy, "POST", f"{base}/keep", {"filename_prefix": "live_routes"})
    second = call_json(comfy, "POST", f"{base}/keep", {"filename_prefix": "live_routes"})
    assert first[0] == second[0] == 200 and first[1]["saved"] != second[1]["saved"], (first, second)
    path = comfy.root / "models" / "patch_toon" / first[1]["saved"]
    summary = read_metadata(path)["summary"]
    assert summary["keyframe_indices"] == [0, 14, 31]
    assert first[1]["saved"] in comfy.object_info("PatchToonLoadModel")["PatchToonLoadModel"]["input"][
        "required"]["model_name"][0]

    status, stopped = call_json(comfy, "POST", f"{base}/stop", {})
    assert status == 200 and stopped["stopped"] and not stopped["running"]
    assert call_json(comfy, "POST", f"{base}/keep", {"filename_prefix": "live_routes"})[0] == 200  # kept after stop


def test_a_queued_prompt_stops_the_live_session_and_says_why(comfy, stopped_after):
    status, started = call_json(comfy, "POST", "/patch_toon/live/start", {"frames": SAMPLE, "keyframes": SAMPLE_KEYS})
    assert status == 200, started
    sid = started["session"]
    until(comfy, sid, lambda s: s.get("running") and s["steps"] > 0, "training")
    from test_nodes_training import training_graph

    prompt = training_graph(seconds=1.0, prefix="live_stopped")
    comfy.run(prompt, timeout=120)
    status, answer = call_json(comfy, "GET", f"/patch_toon/live/{sid}")
    assert not answer["running"] and "prompt was queued" in answer["stopped"]
    assert any("prompt was queued" in line for line in answer["messages"])


def test_a_session_without_a_keyframe_folder_waits_for_the_first_keyframe_from_the_panel(comfy, stopped_after):
    status, started = call_json(comfy, "POST", "/patch_toon/live/start", {"frames": SAMPLE, "keyframes": ""})
    assert status == 200, started
    sid = started["session"]
    waiting = until(comfy, sid, lambda s: s.get("running"), "the session to run")
    assert waiting["steps"] == 0 and waiting["keyframes"] == [] and not waiting["strip_ready"]
    assert call(comfy, "GET", f"/patch_toon/live/{sid}/strip/0.png")[0] == 409
    assert call_json(comfy, "POST", f"/patch_toon/live/{sid}/keep", {})[0] == 409  # no model yet
    frame = np.asarray(Image.open(io.BytesIO(call(comfy, "GET", f"/patch_toon/live/{sid}/frame/3.png")[1])))
    status, data, _ = call(comfy, "POST", f"/patch_toon/live/{sid}/keyframe/3", png_of(255 - frame), "image/png")
    assert status == 200, data
    trained = until(comfy, sid, lambda s: s["steps"] > 2 and s["strip_ready"], "training on the posted keyframe")
    assert [k["frame"] for k in trained["keyframes"]] == [3]
