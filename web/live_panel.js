// The live panel: the paper's live loop without re-queueing. It starts a live session on the server
// (nodes/live.py: POST /patch_toon/live/start), shows the strip of stylized frames as training goes (polling
// the session's status about once a second), a chosen frame larger, and takes keyframe edits: an uploaded
// image, or paint over the keyframe on the panel's own canvas (brush colour and size; Apply sends it).
// "Keep" saves the current model into the patch_toon models folder under a new name (Load Patch Model lists it).
//
// Where it opens: today's frontend, a sidebar tab (app.extensionManager.registerSidebarTab); the 2024 frontend,
// a dialog from a "Toon Live" button in its side menu; both, from the "Live session" entry of the context menu
// of Train Patch Model (which picks the clip and keyframe folders of the Load Frames nodes feeding it).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { css, el } from "./dom.js";
import { routeError, toast } from "./notify.js";

const DIALOG_CLASS = "patch-toon-live-dialog";
const POLL_MS = 1000;
const TRAIN_NODES = new Set(["PatchToonTrain", "PatchToonTrainAdvanced"]);
const BUTTON_STYLE = { margin: "2px", padding: "3px 8px", cursor: "pointer" };

async function fetchJson(route, options = {}) {
  const response = await api.fetchApi(route, { cache: "no-store", ...options });
  if (!response.ok) throw await routeError(response);
  return response.json();
}

function postJson(route, body) {
  return fetchJson(route, { method: "POST", headers: { "Content-Type": "application/json" },
                            body: JSON.stringify(body) });
}

/** The `source` widget of the node feeding input `name` of `node`, following Make Keyframes' `stylized`. */
function upstreamSource(node, name) {
  const slot = node?.inputs?.findIndex((input) => input.name === name) ?? -1;
  const origin = slot >= 0 ? node.getInputNode?.(slot) : null;
  if (!origin) return "";
  const source = origin.widgets?.find((w) => w.name === "source");
  if (source) return String(source.value ?? "");
  return name === "keyframes" ? upstreamSource(origin, "stylized") : "";
}

/** Builds the panel into `root`; returns a function that stops its polling (the session runs on). */
export function buildPanel(root, wanted = {}) {
  const state = { sid: null, status: null, shown: -1, selected: 0, timer: null, builtFor: null, choicesFor: null, painted: false };
  root.replaceChildren();
  const box = css(el("div", "patch-toon-live-panel"), { font: "13px sans-serif", color: "var(--fg-color, #ddd)",
                                                         display: "flex", flexDirection: "column", gap: "6px" });
  const row = () => css(el("div"), { display: "flex", flexWrap: "wrap", alignItems: "center", gap: "4px" });
  const button = (cls, text, title) => { const b = css(el("button", cls, text), BUTTON_STYLE); b.title = title; return b; };

  const frames = el("select", "patch-toon-live-frames");
  const keyframes = el("select", "patch-toon-live-keyframes");
  const start = button("patch-toon-live-start", "Start", "Train on this clip and keyframe folder until Stop");
  const stop = button("patch-toon-live-stop", "Stop", "Stop training (the model stays, Keep still saves it)");
  const prefix = el("input", "patch-toon-live-prefix");
  prefix.value = "patch_toon/live";
  prefix.size = 14;
  prefix.title = "Name of the kept model in the patch_toon models folder; a number is added, nothing is replaced";
  const keep = button("patch-toon-live-keep", "Keep", "Save the current model for Load Patch Model");
  const line = el("div", "patch-toon-live-status", "No live session.");
  line.setAttribute("role", "status");
  const saved = css(el("div", "patch-toon-live-saved", ""), { color: "var(--p-green-400, #8c8)" });
  const strip = css(el("div", "patch-toon-live-strip"), { display: "flex", gap: "4px", overflowX: "auto" });
  const large = css(el("img", "patch-toon-live-large"), { width: "260px", maxWidth: "100%", maxHeight: "260px",
                                                          objectFit: "contain", display: "none" });
  large.alt = "the chosen strip frame, stylized";
  const messages = css(el("pre", "patch-toon-live-messages", ""), { maxHeight: "90px", overflowY: "auto",
                                                                    fontSize: "11px", opacity: "0.8", margin: 0,
                                                                    whiteSpace: "pre-wrap" });

  // Keyframe edits: a frame, then an uploaded image, or paint on the canvas and Apply.
  const editFrame = el("select", "patch-toon-live-edit-frame");
  editFrame.title = "The frame whose keyframe is edited (a keyframe, or a strip frame to make one)";
  const upload = el("input", "patch-toon-live-upload");
  upload.type = "file";
  upload.accept = "image/png,image/jpeg";
  upload.title = "Replace this frame's keyframe with a PNG or JPEG of the frame's size (or its aspect ratio)";
  const colour = el("input", "patch-toon-live-colour");
  colour.type = "color";
  colour.value = "#e0301e";
  colour.title = "Brush colour";
  const size = el("input", "patch-toon-live-size");
  Object.assign(size, { type: "range", min: "1", max: "200", value: "12", title: "Brush size, in frame pixels" });
  const apply = button("patch-toon-live-apply", "Apply", "Train on the painted keyframe from the next step");
  const canvas = css(el("canvas", "patch-toon-live-canvas"), { width: "260px", maxWidth: "100%", maxHeight: "260px",
                                                               objectFit: "contain", cursor: "crosshair",
                                                               border: "1px solid #555", touchAction: "none" });
  canvas.width = canvas.height = 0;
  const editLine = el("div", "patch-toon-live-edit-status", "");

  const top = row();
  top.append("Clip ", frames, " keyframes ", keyframes, start, stop);
  const keepRow = row();
  keepRow.append(prefix, keep);
  const editRow = row();
  editRow.append("Edit keyframe ", editFrame, upload);
  const brushRow = row();
  brushRow.append("Brush ", colour, size, apply);
  // The chosen strip frame larger (left), the keyframe being painted (right): side by side in the dialog, one
  // under the other in a narrow sidebar (today's frontend).
  const views = css(el("div", "patch-toon-live-views"), { display: "flex", flexWrap: "wrap", gap: "8px",
                                                          alignItems: "flex-start" });
  const column = (title, child) => {
    const c = css(el("div"), { display: "flex", flexDirection: "column", gap: "2px", maxWidth: "100%" });
    c.append(css(el("span", "", title), { fontSize: "11px", opacity: "0.7" }), child);
    return c;
  };
  views.append(column("Stylized (click a strip frame)", large), column("Keyframe: paint, then Apply", canvas));
  box.append(top, line, strip, editRow, brushRow, views, editLine, keepRow, saved, messages);
  root.append(box);

  const base = () => `/patch_toon/live/${state.sid}`;
  const fail = (where, error) => {
    where.textContent = error.message;
    where.dataset.error = error.message;
    toast("error", "patch-toon: live session", error.message);
  };

  async function loadSources() {
    const overview = await fetchJson("/patch_toon/live");
    const folders = overview.sources.filter((s) => s.endsWith("/") || s.endsWith("keyframes"));
    frames.replaceChildren(...overview.sources.map((s) => new Option(s, s)));
    keyframes.replaceChildren(new Option("(edits from the panel only)", ""), ...folders.map((s) => new Option(s, s)));
    if (wanted.frames && overview.sources.includes(wanted.frames)) frames.value = wanted.frames;
    if (wanted.keyframes !== undefined && (wanted.keyframes === "" || folders.includes(wanted.keyframes))) {
      keyframes.value = wanted.keyframes;
    }
    if (overview.session && !overview.session.stopped) show(overview.session);  // a session this server runs
  }

  function stripUrl(position, version) {
    return api.apiURL(`${base()}/strip/${position}.png?v=${version}`);
  }

  function show(status) {
    const first = state.sid !== status.session;
    state.sid = status.session;
    state.status = status;
    const keys = status.keyframes ?? [];
    if (status.stopped) line.textContent = `Stopped: ${status.stopped}${status.error ? ` (${status.error})` : ""}`;
    else if (status.starting) line.textContent = "Starting: reading the clip and its keyframes…";
    else if (!keys.length) line.textContent = "Waiting for a first keyframe: upload one, or paint one and Apply.";
    else if (!status.strip_ready) line.textContent = "Training starts: the strip comes after the first step…";
    else line.textContent = `Training: step ${status.steps}; keyframes ${keys.map((k) => k.name).join(", ") || "none"}`;
    line.dataset.steps = String(status.steps ?? 0);
    line.dataset.state = status.stopped ? "stopped" : status.running ? "running" : "starting";
    messages.textContent = (status.messages ?? []).slice(-8).join("\n");
    saved.textContent = (status.saved ?? []).map((s) => `Kept ${s.saved} (step ${s.steps}): Load Patch Model lists it.`).join("\n");
    start.disabled = !status.stopped;
    stop.disabled = Boolean(status.stopped);
    if (first) state.shown = -1;
    if (status.strip && state.builtFor !== status.session) {
      state.builtFor = status.session;
      strip.replaceChildren(...status.strip.map((item) => {
        const img = css(el("img", "patch-toon-live-strip-frame"), { height: "72px", cursor: "pointer",
                                                                     border: "2px solid transparent" });
        img.dataset.position = String(item.position);
        img.dataset.frame = String(item.frame);
        img.title = `${item.name}: click to see it larger`;
        img.addEventListener("click", () => { state.selected = item.position; state.shown = -1; refreshImages(); });
        return img;
      }));
    }
    const signature = `${status.session}:${keys.map((k) => k.frame).join(",")}`;
    if (status.strip && state.choicesFor !== signature) {  // the frames to edit: the keyframes and the strip's
      const fresh = !state.choicesFor?.startsWith(`${status.session}:`);
      state.choicesFor = signature;
      const choices = new Map([...status.strip.map((s) => [s.frame, `${s.frame}`]),
                               ...keys.map((k) => [k.frame, `${k.frame} (keyframe)`])]);
      const before = editFrame.value;
      editFrame.replaceChildren(...[...choices].sort((a, b) => a[0] - b[0]).map(([f, t]) => new Option(t, f)));
      if (!fresh && before && choices.has(Number(before))) {
        editFrame.value = before;
        // The frame shown became a keyframe (read from the folder after the panel showed the frame): show it,
        // unless something is painted on the canvas already.
        if (!state.painted && canvas.dataset.base === "frame" && keys.some((k) => String(k.frame) === before)) loadCanvas();
      } else {
        loadCanvas();  // a new session: the canvas shows its first frame to edit
      }
    }
    refreshImages();
  }

  function refreshImages() {
    const status = state.status;
    if (!status?.strip_ready || state.shown === status.refreshes) return;
    state.shown = status.refreshes;
    for (const img of strip.children) {
      img.src = stripUrl(img.dataset.position, status.refreshes);
      img.style.borderColor = Number(img.dataset.position) === state.selected ? "#6af" : "transparent";
    }
    large.src = stripUrl(state.selected, status.refreshes);
    large.dataset.position = String(state.selected);
    large.style.display = "";
  }

  async function poll() {
    if (!state.sid) return;
    try {
      show(await fetchJson(base()));
    } catch (error) {
      line.textContent = `Lost the session: ${error.message}`;
    }
    if (state.status?.stopped) stopPolling();
  }

  function startPolling() {
    stopPolling();
    state.timer = setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  async function loadCanvas() {
    if (!state.sid || editFrame.value === "") return;
    const frame = editFrame.value;
    let kind = "keyframe";
    let response = await api.fetchApi(`${base()}/keyframe/${frame}.png`, { cache: "no-store" });
    if (response.status === 404) {
      kind = "frame";
      response = await api.fetchApi(`${base()}/frame/${frame}.png`, { cache: "no-store" });
    }
    if (!response.ok) return fail(editLine, await routeError(response));
    await drawCanvas(await response.blob(), frame, kind);
    editLine.textContent = `Paint over frame ${frame} (${kind === "frame" ? "the frame itself: no keyframe there yet" : "its keyframe"}), then Apply.`;
  }

  // The canvas shows `blob` as frame `frame`'s `kind` ("keyframe" or "frame"); `size` keeps the canvas's size
  // (an upload of the frame's aspect ratio but another size is shown at the frame's, as the server resizes it).
  async function drawCanvas(blob, frame, kind, size = null) {
    const bitmap = await createImageBitmap(blob);
    canvas.width = size ? size[0] : bitmap.width;
    canvas.height = size ? size[1] : bitmap.height;
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    canvas.dataset.frame = frame;
    canvas.dataset.base = kind;
    state.painted = false;
  }

  async function sendKeyframe(blob, how) {
    const frame = editFrame.value;
    try {
      const answer = await fetchJson(`${base()}/keyframe/${frame}`, {
        method: "POST", headers: { "Content-Type": blob.type || "image/png" }, body: blob });
      editLine.textContent = `Frame ${frame}: ${how} keyframe sent at step ${answer.steps}` +
        `${answer.notes?.length ? ` (${answer.notes.join("; ")})` : ""}; the strip follows as training goes.`;
      editLine.dataset.sent = String((Number(editLine.dataset.sent) || 0) + 1);
      delete editLine.dataset.error;
      state.shown = -1;
      return true;
    } catch (error) {
      fail(editLine, error);
      return false;
    }
  }

  // The brush: round strokes in the canvas's own pixels (it shows scaled).
  let last = null;
  const at = (event) => {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * canvas.width / rect.width, (event.clientY - rect.top) * canvas.height / rect.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    if (!canvas.width) return;
    canvas.setPointerCapture?.(event.pointerId);
    last = at(event);
    stroke(last, last);
  });
  canvas.addEventListener("pointermove", (event) => { if (last) { const p = at(event); stroke(last, p); last = p; } });
  const end = () => { last = null; };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointerleave", end);
  function stroke(from, to) {
    const g = canvas.getContext("2d");
    Object.assign(g, { strokeStyle: colour.value, lineWidth: Number(size.value), lineCap: "round", lineJoin: "round" });
    g.beginPath();
    g.moveTo(...from);
    g.lineTo(...to);
    g.stroke();
    state.painted = true;
  }

  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      show(await postJson("/patch_toon/live/start", { frames: frames.value, keyframes: keyframes.value }));
      startPolling();
    } catch (error) {
      start.disabled = false;
      fail(line, error);
    }
  });
  stop.addEventListener("click", async () => {
    if (!state.sid) return;
    try { show(await postJson(`${base()}/stop`, {})); } catch (error) { fail(line, error); }
    stopPolling();
  });
  keep.addEventListener("click", async () => {
    if (!state.sid) return;
    try {
      const answer = await postJson(`${base()}/keep`, { filename_prefix: prefix.value });
      saved.textContent = `Kept ${answer.saved} (step ${answer.steps}) in the patch_toon models folder: ` +
        "Load Patch Model lists it (refresh the page's node lists).";
      saved.dataset.saved = answer.saved;
    } catch (error) {
      fail(saved, error);
    }
  });
  editFrame.addEventListener("change", loadCanvas);
  upload.addEventListener("change", async () => {
    const file = upload.files?.[0];
    const frame = editFrame.value;
    const size = canvas.width ? [canvas.width, canvas.height] : null;
    const sent = file && await sendKeyframe(file, "uploaded");
    upload.value = "";
    // The upload itself, not the server's copy: training takes it at its next step, the server's answer may
    // still be the previous keyframe.
    if (sent) await drawCanvas(file, frame, "keyframe", size);
    else await loadCanvas();
  });
  apply.addEventListener("click", () => {
    if (!canvas.width) return;
    canvas.toBlob((blob) => sendKeyframe(blob, "painted"), "image/png");
  });

  loadSources().then(() => { if (state.sid) startPolling(); }).catch((error) => fail(line, error));
  return stopPolling;
}

function closeDialog() {
  const open = document.querySelector(`.${DIALOG_CLASS}`);
  open?._stopPolling?.();
  open?.remove();
}

/** The panel in a dialog of its own (the 2024 page, and the node's context menu on both). */
export function openLiveDialog(wanted = {}) {
  closeDialog();
  const dialog = css(el("div", DIALOG_CLASS), {
    position: "fixed", top: "20px", right: "20px", zIndex: "10000", width: "560px", maxHeight: "92vh",
    overflowY: "auto", padding: "12px", borderRadius: "8px", background: "var(--comfy-menu-bg, #353535)",
    border: "1px solid var(--border-color, #555)", boxShadow: "0 4px 24px rgba(0, 0, 0, 0.5)",
  });
  const header = css(el("div"), { display: "flex", justifyContent: "space-between", marginBottom: "6px" });
  const close = el("button", "patch-toon-live-close", "Close");
  close.title = "Close the panel (the session runs on; Stop ends it)";
  close.addEventListener("click", closeDialog);
  header.append(css(el("strong", "", "patch-toon: live session"), { color: "var(--fg-color, #ddd)" }), close);
  const body = el("div");
  dialog.append(header, body);
  document.body.append(dialog);
  dialog._stopPolling = buildPanel(body, wanted);
  return dialog;
}

app.registerExtension({
  name: "patch_toon.LivePanel",

  async setup() {
    const manager = app.extensionManager;
    if (typeof manager?.registerSidebarTab === "function") {
      let stopPolling = null;
      manager.registerSidebarTab({
        id: "patch-toon-live", icon: "pi pi-play", title: "Toon Live", tooltip: "patch-toon: live session",
        type: "custom",
        render: (container) => {  // the sidebar's own container: no padding, no scrolling of its own
          stopPolling?.();
          css(container, { height: "100%", overflowY: "auto", padding: "8px", boxSizing: "border-box" });
          stopPolling = buildPanel(container);
        },
        destroy: () => stopPolling?.(),
      });
    }
    const menu = app.ui?.menuContainer;  // the 2024 frontend's side menu
    if (!menu) return;
    const button = el("button", "patch-toon-live-button", "Toon Live");
    button.id = "patch-toon-live-button";
    button.title = "patch-toon live session: train while you edit keyframes, the strip follows";
    button.addEventListener("click", () => openLiveDialog());
    const examples = menu.querySelector("#patch-toon-workflows-button") ?? menu.querySelector("#comfy-load-default-button");
    if (examples) examples.after(button);
    else menu.append(button);
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!TRAIN_NODES.has(nodeData.name)) return;
    const getExtraMenuOptions = nodeType.prototype.getExtraMenuOptions;
    nodeType.prototype.getExtraMenuOptions = function (_, options) {
      const result = getExtraMenuOptions?.apply(this, arguments);
      options.push({
        content: "Live session",
        callback: () => openLiveDialog({ frames: upstreamSource(this, "frames"), keyframes: upstreamSource(this, "keyframes") }),
      });
      return result;
    };
  },
});
