"""The live panel (web/live_panel.js) on today's ComfyUI frontend, where it is a sidebar tab ("Toon Live"): a session
on the sample, an uploaded flat keyframe, the strip following it, Keep. Set PATCH_TOON_TODAY_COMFY to such a ComfyUI
(tests/comfy_host/today.py: ComfyUI/, venv/, stubs/) to run it; without it, it is skipped and says why. The
screenshot of the panel goes to output/screenshots/ (docs/screenshots/live-panel-today.png is one of them).
Passed on ComfyUI v0.8.0 (frontend 1.35.9), 2026-12-02."""


import pytest
from conftest import CLOSER_TO_COLOUR, open_page
from test_live_panel_in_browser import MAGENTA, MEAN_OF_IMG, distance, png_file

from comfy_host.today import TODAY_ENV, TodayServer, today_folder

TAB_BUTTON = ".patch-toon-live-tab-button"
PANEL = ".patch-toon-live-panel"
FIRST = f"{PANEL} .patch-toon-live-strip img[data-position='0']"
# The panel's parts that stick out of the sidebar sideways, and whether what is below its bottom can be scrolled to.
OUTSIDE_THE_SIDEBAR = """() => {
    const box = document.querySelector('.patch-toon-live-panel').parentElement, edge = box.getBoundingClientRect();
    const out = ['.patch-toon-live-large', '.patch-toon-live-canvas', '.patch-toon-live-keep', '.patch-toon-live-messages']
        .filter((s) => { const r = document.querySelector(s).getBoundingClientRect(); return r.left < edge.left - 1 || r.right > edge.right + 1; });
    const style = getComputedStyle(box).overflowY;
    if (box.scrollHeight > box.clientHeight + 1 && style !== 'auto' && style !== 'scroll') out.push('the bottom (no scrolling)');
    return out.join(', ');
}"""


@pytest.fixture(scope="module")
def today_web():
    folder = today_folder()
    if folder is None:
        pytest.skip(f"{TODAY_ENV} is not set: give it today's ComfyUI (a Vue frontend with a sidebar) to run this")
    server = TodayServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def today_page(request, browser, today_web):
    yield from open_page(request, browser, today_web)


def close_templates_dialog(page) -> None:
    """A fresh user folder: today's frontend opens its Templates dialog on the first visit. Closes it."""
    dialog = page.locator(".p-dialog[aria-labelledby='global-workflow-template-selector']")
    try:
        dialog.wait_for(state="visible", timeout=15_000)
    except Exception:  # not opened (a frontend that does not do this): nothing to close
        return
    # Its close button, the X at its top right: the visible button nearest that corner (it has no label to find).
    page.evaluate("""(dialog) => {
        const box = dialog.getBoundingClientRect();
        const near = (b) => { const r = b.getBoundingClientRect(); return Math.hypot(box.right - r.right, r.top - box.top); };
        const buttons = [...dialog.querySelectorAll('button')].filter((b) => b.getBoundingClientRect().width > 0);
        buttons.sort((a, b) => near(a) - near(b))[0].click();
    }""", dialog.element_handle())
    dialog.wait_for(state="detached", timeout=15_000)


def test_the_live_sidebar_tab_trains_on_the_sample_and_its_strip_follows_an_uploaded_keyframe(today_page, tmp_path):
    page = today_page.page
    page.set_viewport_size({"width": 1280, "height": 1080})  # the whole panel in the sidebar, for the screenshot
    close_templates_dialog(page)
    page.click(TAB_BUTTON)
    page.wait_for_selector(f"{PANEL} .patch-toon-live-frames option", state="attached")
    page.select_option(f"{PANEL} .patch-toon-live-frames", "[patch-toon sample] frames")
    page.select_option(f"{PANEL} .patch-toon-live-keyframes", "[patch-toon sample] keyframes")
    page.click(f"{PANEL} .patch-toon-live-start")
    today_page.wait_for("() => document.querySelector('.patch-toon-live-status').dataset.state === 'running' && "
                        "Number(document.querySelector('.patch-toon-live-status').dataset.steps) > 3", timeout=180)
    first = today_page.wait_for(MEAN_OF_IMG, FIRST)
    assert page.locator(f"{PANEL} .patch-toon-live-strip img").count() == 5
    assert page.is_visible(FIRST), "the strip is not in view in the sidebar"
    outside = today_page.js(OUTSIDE_THE_SIDEBAR)
    assert not outside, f"cut off by the sidebar's edges: {outside}"

    # Upload: frame 0's keyframe becomes flat magenta; the strip's frame 0, as the page shows it, follows.
    page.select_option(f"{PANEL} .patch-toon-live-edit-frame", "0")
    today_page.wait_for("() => document.querySelector('.patch-toon-live-canvas').dataset.frame === '0'")
    page.set_input_files(f"{PANEL} .patch-toon-live-upload", str(png_file(tmp_path, MAGENTA, (350, 350))))
    today_page.wait_for("() => document.querySelector('.patch-toon-live-edit-status').dataset.sent === '1'")
    assert not today_page.js("() => document.querySelector('.patch-toon-live-edit-status').dataset.error || ''")
    today_page.wait_for(CLOSER_TO_COLOUR, [FIRST, MAGENTA, distance(first["mean"], MAGENTA)], timeout=180)
    assert today_page.js(MEAN_OF_IMG, FIRST)["src"] != first["src"]

    page.click(f"{PANEL} .patch-toon-live-keep")
    saved = today_page.wait_for("() => document.querySelector('.patch-toon-live-saved').dataset.saved")
    assert (today_page.server.root / "models" / "patch_toon" / saved).is_file()
    assert saved in page.text_content(f"{PANEL} .patch-toon-live-saved")
    page.wait_for_timeout(1200)  # one more poll: the status line and messages as the user sees them
    today_page.js("() => { document.querySelector('.patch-toon-live-panel').parentElement.scrollTop = 0; }")
    page.wait_for_timeout(300)
    today_page.screenshot("page")  # the strip at the top of the sidebar, the Keep line below

    page.click(f"{PANEL} .patch-toon-live-stop")
    today_page.wait_for("() => document.querySelector('.patch-toon-live-status').dataset.state === 'stopped'")
    assert not today_page.errors and not today_page.failed_scripts, (today_page.errors, today_page.failed_scripts)
