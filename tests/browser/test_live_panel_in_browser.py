"""The live panel (web/live_panel.js) in a real Chromium on the 2024 page: opened from Train Patch Model's context
menu, a session on the sample, an uploaded and a painted keyframe edit, the strip following, Keep, Stop."""

import io
import json
import time
import urllib.request

import numpy as np
from PIL import Image

from conftest import CLOSER_TO_COLOUR, REPO

MAGENTA = (230, 20, 230)
BRUSH = "#e614e6"  # the same colour: both edits pull the strip the same way

# The mean colour of a strip image as the page shows it (drawn from the <img> itself).
MEAN_OF_IMG = """(selector) => {
    const img = document.querySelector(selector);
    if (!img || !img.complete || !img.naturalWidth) return null;
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) { sum[0] += d[i]; sum[1] += d[i + 1]; sum[2] += d[i + 2]; }
    const n = d.length / 4;
    return {mean: sum.map(s => s / n), src: img.src};
}"""


def png_file(tmp_path, colour, size):
    path = tmp_path / "edit.png"
    Image.new("RGB", size, colour).save(path)
    return path


def distance(mean, colour):
    return float(np.abs(np.asarray(mean) - colour).mean())


def server_image(comfy_page, route):
    with urllib.request.urlopen(comfy_page.server.base_url + route, timeout=30) as answer:
        return np.asarray(Image.open(io.BytesIO(answer.read())).convert("RGB")).astype(np.float32)


def test_the_live_panel_trains_on_the_sample_and_its_strip_follows_an_uploaded_and_a_painted_edit(comfy_page,
                                                                                                   tmp_path):
    page = comfy_page.page
    workflow = json.loads((REPO / "example_workflows" / "train_and_stylize_sample.json").read_text())
    comfy_page.load_workflow(workflow)
    # The entry in Train Patch Model's context menu opens the panel on the clip and keyframes feeding it.
    labels = comfy_page.js("""() => {
        const node = window.app.graph._nodes.find(n => n.type === 'PatchToonTrain');
        const options = [];
        node.getExtraMenuOptions(window.app.canvas, options);
        const entry = options.find(o => o && o.content === 'Live session');
        entry.callback();
        return options.filter(o => o).map(o => o.content);
    }""")
    assert "Live session" in labels
    page.wait_for_selector(".patch-toon-live-dialog .patch-toon-live-frames option", state="attached")
    comfy_page.wait_for("() => document.querySelector('.patch-toon-live-frames').value.includes('sample')")
    assert page.input_value(".patch-toon-live-frames") == "[patch-toon sample] frames"
    assert page.input_value(".patch-toon-live-keyframes") == "[patch-toon sample] keyframes"
    assert page.is_visible("#patch-toon-live-button")  # the 2024 side menu's button opens it too

    page.click(".patch-toon-live-start")
    comfy_page.wait_for("() => document.querySelector('.patch-toon-live-status').dataset.state === 'running' && "
                        "Number(document.querySelector('.patch-toon-live-status').dataset.steps) > 3")
    first = comfy_page.wait_for(MEAN_OF_IMG, ".patch-toon-live-strip img[data-position='0']")
    assert page.locator(".patch-toon-live-strip img").count() == 5
    comfy_page.wait_for("() => document.querySelector('.patch-toon-live-canvas').width === 350")

    # Upload: frame 0's keyframe becomes flat magenta.
    page.select_option(".patch-toon-live-edit-frame", "0")
    page.set_input_files(".patch-toon-live-upload", str(png_file(tmp_path, MAGENTA, (350, 350))))
    comfy_page.wait_for("() => document.querySelector('.patch-toon-live-edit-status').dataset.sent === '1'")
    # The canvas shows the upload at once (the server's copy may still be the previous keyframe for a step).
    comfy_page.wait_for("""() => { const c = document.querySelector('.patch-toon-live-canvas');
        const [r, g, b] = c.getContext('2d').getImageData(175, 175, 1, 1).data;
        return c.dataset.frame === '0' && r > 200 && g < 60 && b > 200; }""")

    # Paint: broad magenta strokes over frame 31's keyframe, then Apply.
    page.select_option(".patch-toon-live-edit-frame", "31")
    comfy_page.wait_for("() => document.querySelector('.patch-toon-live-canvas').dataset.frame === '31'")
    page.fill(".patch-toon-live-colour", BRUSH)
    page.fill(".patch-toon-live-size", "60")
    page.locator(".patch-toon-live-canvas").scroll_into_view_if_needed()
    box = page.locator(".patch-toon-live-canvas").bounding_box()
    assert box["y"] + box["height"] <= page.viewport_size["height"], box  # the whole canvas in view
    for row in range(6):
        y = box["y"] + box["height"] * (row + 0.5) / 6
        page.mouse.move(box["x"] + 4, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] - 4, y, steps=8)
        page.mouse.up()
    page.click(".patch-toon-live-apply")
    comfy_page.wait_for("() => document.querySelector('.patch-toon-live-edit-status').dataset.sent === '2'")
    assert not comfy_page.js("() => document.querySelector('.patch-toon-live-edit-status').dataset.error || ''")

    sid = comfy_page.js("() => document.querySelector('.patch-toon-live-strip img').src.match(/live\\/([0-9a-f]{32})/)[1]")
    deadline = time.monotonic() + 30  # taken at the session's next training step
    while True:
        painted = server_image(comfy_page, f"/patch_toon/live/{sid}/keyframe/31.png")
        brushed = np.abs(painted - MAGENTA).max(axis=-1) < 40
        if brushed.mean() > 0.5 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert brushed.mean() > 0.5, f"the painted keyframe is {brushed.mean():.0%} brush colour"

    # The strip's frame 0, as the page shows it, turns magenta.
    comfy_page.wait_for(CLOSER_TO_COLOUR, [".patch-toon-live-strip img[data-position='0']", MAGENTA,
                                           distance(first["mean"], MAGENTA)], timeout=180)
    after = comfy_page.js(MEAN_OF_IMG, ".patch-toon-live-strip img[data-position='0']")
    assert after["src"] != first["src"]
    page.click(".patch-toon-live-strip img[data-position='0']")  # larger
    comfy_page.wait_for("() => document.querySelector('.patch-toon-live-large').dataset.position === '0'")

    page.click(".patch-toon-live-keep")
    saved = comfy_page.wait_for("() => document.querySelector('.patch-toon-live-saved').dataset.saved")
    assert (comfy_page.server.root / "models" / "patch_toon" / saved).is_file()
    assert saved in page.text_content(".patch-toon-live-saved")
    page.wait_for_timeout(1200)  # one more poll: the status line and messages as the user sees them
    comfy_page.screenshot("panel", clip=page.locator(".patch-toon-live-dialog").bounding_box())

    page.click(".patch-toon-live-stop")
    comfy_page.wait_for("() => document.querySelector('.patch-toon-live-status').dataset.state === 'stopped'")
    assert "stopped from the panel" in page.text_content(".patch-toon-live-status")
    assert not comfy_page.errors and not comfy_page.failed_scripts, (comfy_page.errors, comfy_page.failed_scripts)
