"""What the pack tells the user in a real ComfyUI page: node messages, route errors, the thumbnails setting."""

import json

import pytest

from comfy_host import setup_host

EXAMPLES = setup_host.REPO / "example_workflows"  # the shipped workflows
MESSAGE = ".patch-toon-message"
MONITOR = ".patch-toon-monitor"
SUGGEST, TRAIN, SAVE_MODEL = "PatchToonSuggestKeyframes", "PatchToonTrain", "PatchToonSaveModel"
THUMBNAILS = "patch_toon.MonitorThumbnails"


def example(name):
    path = EXAMPLES / f"{name}.json"
    if not path.exists():
        pytest.fail(f"{path.relative_to(setup_host.REPO)} is missing: the pack ships it")
    return json.loads(path.read_text())


def node_message(comfy_page, node_type):
    """The text in the message box of the first node of that type ('' when it has none)."""
    return comfy_page.js("""(type) => {
        const node = window.app.graph._nodes.find(n => n.type === type);
        return node?.widgets?.find(w => w.name === "patch_toon_message")?.element?.value ?? "";
    }""", node_type)


def wait_for_message(comfy_page, node_type, timeout=120.0):
    comfy_page.wait_for("""(type) => {
        const node = window.app.graph._nodes.find(n => n.type === type);
        return node?.widgets?.find(w => w.name === "patch_toon_message")?.element?.value;
    }""", arg=node_type, timeout=timeout)
    return node_message(comfy_page, node_type)


def set_setting(comfy_page, setting_id, value):
    comfy_page.js("""async ([id, value]) => {
        const store = window.app.extensionManager?.setting;
        if (store?.set) await store.set(id, value);
        else await window.app.ui.settings.setSettingValueAsync(id, value);
    }""", [setting_id, value])


# --------------------------------------------------------------------------- node messages


def test_suggest_keyframes_shows_its_suggestion_on_the_node_and_the_workflow_still_saves_and_loads(comfy_page):
    comfy_page.load_workflow(example("suggest_keyframes"))
    comfy_page.fit_to_view()

    prompt_id = comfy_page.queue_from_page()
    entry = comfy_page.server.wait(prompt_id, timeout=300)
    shown = wait_for_message(comfy_page, SUGGEST)
    comfy_page.screenshot("suggested")
    comfy_page.focus_node(SUGGEST, scale=1.5)
    comfy_page.screenshot("suggested-node", clip=comfy_page.node_clip(SUGGEST))
    saved = comfy_page.js("""(type) => {
        const node = window.app.graph._nodes.find(n => n.type === type);
        const box = node.widgets.find(w => w.name === "patch_toon_message");
        const rect = box.element.getBoundingClientRect();
        return {own: node.widgets.filter(w => w !== box).map(w => w.value), values: node.serialize().widgets_values,
                visible: rect.width > 0 && rect.height > 0, height: rect.height, node_height: node.size[1],
                workflow: window.app.graph.serialize()};
    }""", SUGGEST)
    prompt = comfy_page.js("async () => (await window.app.graphToPrompt()).output")
    comfy_page.load_workflow(saved["workflow"])
    reloaded = comfy_page.graph_nodes()

    (suggest_id,) = [str(n["id"]) for n in example("suggest_keyframes")["nodes"] if n["type"] == SUGGEST]
    said = entry["outputs"][suggest_id]["text"]
    assert shown == "\n".join(said) and shown.startswith("suggested frames ")
    assert saved["visible"] and saved["height"] < 120 and saved["node_height"] < 260  # small: the node stays small
    assert saved["values"] == saved["own"]  # the box has no slot in the saved workflow
    assert "patch_toon_message" not in prompt[suggest_id]["inputs"]
    (again,) = [n for n in reloaded if n["type"] == SUGGEST]
    assert list(again["widgets"].values()) == saved["own"]
    assert comfy_page.errors == []


# --------------------------------------------------------------------------- route errors


def test_finish_now_refused_by_the_server_shows_its_answer_on_the_node(comfy_page):
    comfy_page.js(f"""() => {{
        window.app.graph.clear();
        const node = LiteGraph.createNode("{TRAIN}");
        node.pos = [80, 80];
        window.app.graph.add(node);
    }}""")
    # The button is enabled while the node trains; pressed just as training ended, the server refuses.
    comfy_page.js(f"() => {{ document.querySelector('{MONITOR} button.patch-toon-finish').disabled = false; }}")
    with comfy_page.page.expect_response(lambda r: r.url.endswith("/patch_toon/finish")) as answer:
        comfy_page.page.click(f"{MONITOR} button.patch-toon-finish")
    comfy_page.wait_for(f"() => document.querySelector('{MONITOR}').dataset.error", timeout=30)
    shown = comfy_page.js(f"""() => {{
        const box = document.querySelector("{MONITOR} .patch-toon-error");
        return {{text: box.textContent, visible: box.getBoundingClientRect().height > 0}};
    }}""")
    comfy_page.focus_node(TRAIN)
    comfy_page.screenshot("finish-refused", clip=comfy_page.node_clip(TRAIN))

    assert answer.value.status == 400
    assert shown["visible"] and shown["text"].startswith("Finish now failed: ")
    assert answer.value.json()["error"] in shown["text"]
    # Chromium itself logs the refused request ("Failed to load resource: ... 400"); nothing else may be logged.
    assert [e for e in comfy_page.errors if "Failed to load resource" not in e] == []


# --------------------------------------------------------------------------- thumbnails setting


def test_with_thumbnails_off_the_monitor_shows_no_images_and_save_patch_model_says_where_it_saved(comfy_page):
    registered = comfy_page.js(f"() => '{THUMBNAILS}' in (window.app.ui.settings.settingsLookup ?? {{}})")
    with comfy_page.page.expect_response(lambda r: r.url.endswith("/patch_toon/monitor")) as told:
        set_setting(comfy_page, THUMBNAILS, False)
    try:
        # What the server sent: told the setting, it sends this page no images at all.
        comfy_page.js("""async () => {
            const { api } = await import("/scripts/api.js");
            window.__patchToonImages = 0;
            api.addEventListener("patch_toon.progress", ({ detail }) => {
                if (detail.preview || detail.strip) window.__patchToonImages += 1;
            });
        }""")
        comfy_page.load_workflow(example("train_and_stylize_sample"))
        comfy_page.set_widget(TRAIN, "seconds", 0.0)
        comfy_page.set_widget(TRAIN, "steps", 25)
        comfy_page.set_widget(TRAIN, "seed", 9)  # a seed of its own: ComfyUI would reuse another test's model
        prompt_id = comfy_page.queue_from_page()
        comfy_page.server.wait(prompt_id, timeout=300)
        comfy_page.wait_for(f"() => document.querySelector('{MONITOR}')?.dataset.state === 'finished'", timeout=30)
        saved = wait_for_message(comfy_page, SAVE_MODEL, timeout=30)
        monitor = comfy_page.js(f"""() => {{
            const el = document.querySelector("{MONITOR}");
            const shown = [...el.querySelectorAll("img")].filter(i => i.getAttribute("src") && i.getBoundingClientRect().width > 0);
            return {{images: shown.length, thumbnails: el.dataset.thumbnails, sent: window.__patchToonImages,
                     placeholder: el.querySelector(".patch-toon-preview-placeholder").textContent}};
        }}""")
        comfy_page.focus_node(TRAIN)
        comfy_page.screenshot("thumbnails-off", clip=comfy_page.node_clip(TRAIN))
    finally:
        set_setting(comfy_page, THUMBNAILS, True)  # the server keeps settings for the whole session

    assert registered and told.value.ok
    assert monitor["sent"] == 0 and monitor["images"] == 0 and monitor["thumbnails"] == "off"
    assert "off" in monitor["placeholder"]
    assert saved.startswith("saved models/patch_toon/") and saved.endswith(".safetensors")
    assert comfy_page.errors == []


# --------------------------------------------------------------------------- the video on the node

STYLIZE_FILE = "PatchToonStylizeFile"


def test_stylize_video_file_plays_its_mp4_on_the_node_and_the_player_is_not_saved(comfy_page):
    comfy_page.load_workflow(example("stylize_video_file"))
    comfy_page.set_widget(STYLIZE_FILE, "filename_prefix", "patch_toon/in_browser")
    comfy_page.set_widget(STYLIZE_FILE, "output", "mp4")
    comfy_page.fit_to_view()
    prompt_id = comfy_page.queue_from_page()
    entry = comfy_page.server.wait(prompt_id, timeout=300)
    # A <video> on the node that has loaded the file (its first frame decoded: readyState >= 2).
    comfy_page.wait_for("""(type) => {
        const node = window.app.graph._nodes.find(n => n.type === type);
        const video = node?.widgets?.find(w => w.name === "patch_toon_video")?.element;
        return video && video.readyState >= 2 && video.videoWidth > 0;
    }""", arg=STYLIZE_FILE, timeout=60)
    shown = comfy_page.js("""(type) => {
        const node = window.app.graph._nodes.find(n => n.type === type);
        const extras = ["patch_toon_video", "patch_toon_message"];
        const video = node.widgets.find(w => w.name === "patch_toon_video").element;
        const rect = video.getBoundingClientRect();
        return {src: video.currentSrc, width: video.videoWidth, height: video.videoHeight, duration: video.duration,
                visible: rect.width > 0 && rect.height > 0, images: node.imgs?.length ?? 0,
                own: node.widgets.filter(w => !extras.includes(w.name)).map(w => w.value),
                values: node.serialize().widgets_values,
                h264: video.canPlayType('video/mp4; codecs="avc1.640028"')};
    }""", STYLIZE_FILE)
    comfy_page.focus_node(STYLIZE_FILE, scale=1.2)
    comfy_page.screenshot("video-on-node", clip=comfy_page.node_clip(STYLIZE_FILE))

    (node_id,) = [str(n["id"]) for n in example("stylize_video_file")["nodes"] if n["type"] == STYLIZE_FILE]
    (file,) = entry["outputs"][node_id]["images"]
    assert file["filename"].startswith("in_browser_") and file["filename"].endswith(".mp4")
    assert file["filename"] in shown["src"] and "type=output" in shown["src"]
    assert (shown["width"], shown["height"]) == (350, 350) and shown["duration"] == pytest.approx(32 / 25, abs=0.05)
    assert shown["visible"] and shown["images"] == 0  # a player, not a broken image
    assert shown["values"] == shown["own"]  # neither the player nor the message box is saved as a widget value
    assert comfy_page.errors == []
