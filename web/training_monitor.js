// Training monitor on the "Train Patch Model" node: loss chart (total and per term), steps/s,
// elapsed and ETA, whether training continued a previous model (warm start) and from how many
// steps, the latest preview, a strip of frames spread over the whole clip, and "Finish now",
// which ends training at the next step and keeps the model (the graph then goes on, unlike Cancel).
//
// Fed by the server event "patch_toon.progress" that the training node sends with
// PromptServer.send_sync: {node, step, elapsed_s, seconds_budget, steps_budget, losses,
// steps_per_s, eta_s, fraction, done, warm_start_steps (null: a fresh start), warm_start_from,
// strip_indices, preview?, strip? ([{frame, image}])}. Only documented extension points are used
// (registerExtension, nodeCreated, api.addEventListener, node.addDOMWidget), so that it runs on
// the legacy frontend (2024) and on today's Vue frontend.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { css, el } from "./dom.js";
import { routeError, toast } from "./notify.js";

const NODE_TYPES = new Set(["PatchToonTrain", "PatchToonTrainAdvanced"]);
const EVENT = "patch_toon.progress";
const WIDGET_NAME = "patch_toon_monitor";
const MAX_POINTS = 600; // chart history; older points are thinned, never the latest
const HEIGHT = 400; // px of the node given to the monitor
const STRIP_HEIGHT = 64; // px of the whole-clip strip
// Loss terms in a fixed colour order; "total" is drawn thick and white-ish.
const COLORS = ["#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176"];
const TOTAL_COLOR = "#eeeeee";

// Settings > patch-toon: the preview and the strip of thumbnails can be turned off (a slow link, a
// shared screen). Off: the monitor shows neither; the chart and the numbers stay.
export const THUMBNAILS_SETTING = "patch_toon.MonitorThumbnails";
const THUMBNAILS_SETTING_DEF = {
  id: THUMBNAILS_SETTING,
  category: ["patch-toon", "Training monitor", "Thumbnails"],
  name: "Show preview images in the training monitor",
  tooltip: "The latest preview and the strip of frames over the whole clip on Train Patch Model. "
    + "Off: the chart and the numbers only.",
  type: "boolean",
  defaultValue: true,
  onChange: () => tellServer(),
};

const monitors = new Set();

function settingValue(id, fallback) {
  // Today's frontend: the setting store; the 2024 one: app.ui.settings (today's keeps it, deprecated).
  const store = app.extensionManager?.setting;
  const value = typeof store?.get === "function" ? store.get(id) : app.ui?.settings?.getSettingValue?.(id, fallback);
  return value ?? fallback;
}

export function thumbnailsShown() {
  return settingValue(THUMBNAILS_SETTING, true) !== false;
}

// The server is told each page's setting (POST /patch_toon/monitor), so that it does not encode images
// this page will not show. Told again whenever the page's websocket id or the setting changes, and after
// a reconnect (a restarted server has forgotten). The monitor hides images itself in any case.
let told = null;

async function tellServer() {
  const clientId = api.clientId;
  const shown = thumbnailsShown();
  const key = `${clientId}:${shown}`;
  if (!clientId || key === told) return;
  told = key;
  try {
    const response = await api.fetchApi("/patch_toon/monitor", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ client_id: clientId, thumbnails: shown }),
    });
    if (!response.ok) throw await routeError(response);
  } catch (error) {
    told = null;
    console.warn("patch-toon: could not tell the server the thumbnails setting:", error.message);
  }
}


export function formatSeconds(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const pad = (v) => String(v).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
}

function formatLoss(value) {
  if (value == null || !Number.isFinite(value)) return "–";
  return Math.abs(value) >= 0.01 ? value.toFixed(4) : value.toExponential(2);
}

class TrainingMonitor {
  constructor(node) {
    this.node = node;
    this.history = []; // [{step, losses}]
    this.terms = []; // loss names in arrival order, "total" first
    this.updates = 0;
    this.serverNodeId = null; // the id the server used in its events (subgraphs prefix it)
    this.state = "idle";
    this.build();
  }

  build() {
    // ComfyUI sets the display of a DOM widget's element (to show or hide it): the layout lives on
    // an inner box.
    const root = css(el("div", "patch-toon-monitor"), { overflow: "hidden" });
    const box = css(el("div", "patch-toon-monitor-box"), {
      display: "flex", flexDirection: "column", gap: "4px", boxSizing: "border-box", height: "100%",
      font: "11px sans-serif", color: "var(--input-text, #ddd)", overflow: "hidden",
      background: "var(--comfy-input-bg, #222)", borderRadius: "6px", padding: "4px",
    });
    root.append(box);
    root.dataset.state = this.state;
    root.dataset.updates = "0";

    this.status = css(el("div", "patch-toon-status", "Waiting for training to start."), {
      whiteSpace: "nowrap", overflow: "hidden", textOverflow: "ellipsis",
    });
    this.chart = css(el("canvas", "patch-toon-chart"), { width: "100%", height: "96px", flex: "0 0 96px" });
    this.legend = css(el("div", "patch-toon-legend"), { display: "flex", flexWrap: "wrap", gap: "2px 8px" });
    this.preview = css(el("img", "patch-toon-preview"), {
      flex: "1 1 0", minHeight: "0", width: "100%", objectFit: "contain", display: "none",
    });
    this.preview.alt = "Preview of a frame stylized by the model being trained";
    this.warm = css(el("div", "patch-toon-warm", ""), {
      whiteSpace: "nowrap", overflow: "hidden", textOverflow: "ellipsis", opacity: "0.85",
    });
    this.strip = css(el("div", "patch-toon-strip"), {
      display: "flex", gap: "2px", flex: `0 0 ${STRIP_HEIGHT}px`, height: `${STRIP_HEIGHT}px`,
      justifyContent: "center", overflow: "hidden",
    });
    this.strip.title = "Frames spread over the whole clip, stylized by the model being trained";
    this.placeholder = css(el("div", "patch-toon-preview-placeholder", ""), {
      flex: "1 1 0", minHeight: "0", display: "flex", alignItems: "center", justifyContent: "center", opacity: "0.6",
    });
    const row = css(el("div", "patch-toon-actions"), { display: "flex", gap: "6px", alignItems: "center" });
    this.progress = css(el("progress", "patch-toon-progress"), { flex: "1 1 auto", height: "10px" });
    this.progress.max = 1;
    this.progress.value = 0;
    this.finishButton = el("button", "patch-toon-finish", "Finish now");
    this.finishButton.title = "End training at the next step and keep the model trained so far; the graph goes on.";
    this.finishButton.disabled = true;
    this.finishButton.addEventListener("click", (event) => {
      event.stopPropagation();
      this.requestFinish();
    });
    row.append(this.progress, this.finishButton);
    // What went wrong with a request to the pack's routes (Finish now), in words; empty when all is well.
    this.error = css(el("div", "patch-toon-error", ""), { color: "var(--error-text, #ff6b6b)", display: "none" });
    this.error.setAttribute("role", "alert");
    box.append(this.status, this.warm, this.chart, this.legend, this.preview, this.placeholder, this.strip, row,
      this.error);
    this.root = root;
    this.applyThumbnailSetting();

    this.widget = this.node.addDOMWidget(WIDGET_NAME, "patch_toon_monitor", root, {
      serialize: false, // not a node input: left out of the prompt
      hideOnZoom: false,
      getValue: () => undefined,
      setValue: () => {},
      getMinHeight: () => HEIGHT,
      getHeight: () => HEIGHT,
    });
    this.widget.serialize = false; // today's frontend: no slot in widgets_values
    const size = this.node.computeSize?.();
    if (size) this.node.setSize([Math.max(this.node.size[0], 340, size[0]), Math.max(this.node.size[1], size[1])]);
    this.resizeObserver = typeof ResizeObserver === "function" ? new ResizeObserver(() => this.draw()) : null;
    this.resizeObserver?.observe(this.chart);
  }

  matches(nodeId) {
    const id = String(nodeId);
    const own = String(this.node.id);
    // Inside a subgraph (today's frontend) the server id is "<parent>:<node>".
    return id === own || id.endsWith(":" + own);
  }

  update(data) {
    const step = Number(data.step) || 0;
    const last = this.history[this.history.length - 1];
    if (this.state !== "running" || (last && step < last.step)) this.reset(); // a new run
    this.serverNodeId = String(data.node);
    this.state = data.done ? "finished" : "running";
    this.updates += 1;

    const losses = data.losses && typeof data.losses === "object" ? data.losses : {};
    for (const name of Object.keys(losses)) {
      if (!this.terms.includes(name)) this.terms.push(name);
    }
    this.terms.sort((a, b) => (a === "total" ? -1 : b === "total" ? 1 : 0));
    this.history.push({ step, losses });
    if (this.history.length > MAX_POINTS) {
      const latest = this.history.pop();
      this.history = this.history.filter((_, i) => i % 2 === 0);
      this.history.push(latest);
    }
    this.applyThumbnailSetting();
    if (this.thumbnails && typeof data.preview === "string" && data.preview.startsWith("data:image/")) {
      this.preview.src = data.preview;
      this.preview.style.display = "";
      this.placeholder.style.display = "none";
      this.root.dataset.preview = "1";
    }
    if (this.thumbnails && Array.isArray(data.strip)) this.renderStrip(data.strip);
    this.renderWarmStart(data);

    const budget = data.steps_budget ? `${step} / ${data.steps_budget} steps` : `step ${step}`;
    const speed = Number.isFinite(data.steps_per_s) ? `${data.steps_per_s.toFixed(2)} steps/s` : "";
    const time = `${formatSeconds(data.elapsed_s)} elapsed`;
    const eta = data.done ? "done" : `ETA ${formatSeconds(data.eta_s)}`;
    this.status.textContent = [budget, speed, time, eta].filter(Boolean).join(" · ");
    this.progress.value = data.done ? 1 : Math.min(1, Math.max(0, Number(data.fraction) || 0));
    this.finishButton.disabled = this.state !== "running";
    if (this.state !== "running") this.finishButton.textContent = "Finish now";
    this.renderLegend(losses);
    this.root.dataset.state = this.state;
    this.root.dataset.updates = String(this.updates);
    this.root.dataset.step = String(step);
    this.root.dataset.elapsed = String(Number(data.elapsed_s) || 0);
    this.draw();
  }

  applyThumbnailSetting() {
    // Read at each event: a change in the settings applies from the next update on.
    const shown = thumbnailsShown();
    if (shown === this.thumbnails) return;
    this.thumbnails = shown;
    this.root.dataset.thumbnails = shown ? "on" : "off";
    this.strip.style.display = shown ? "flex" : "none";
    this.placeholder.textContent = shown ? "The preview appears here."
      : "Preview images are off (Settings: patch-toon, training monitor).";
    if (!shown) {
      this.preview.removeAttribute("src");
      this.preview.style.display = "none";
      this.placeholder.style.display = "";
      this.strip.replaceChildren();
      delete this.root.dataset.preview;
      delete this.root.dataset.strip;
    }
  }

  showError(message) {
    this.error.textContent = message;
    this.error.title = message;
    this.error.style.display = message ? "" : "none";
    if (message) this.root.dataset.error = message;
    else delete this.root.dataset.error;
  }

  reset() {
    this.history = [];
    this.terms = [];
    this.updates = 0;
    this.finishButton.textContent = "Finish now";
    this.preview.removeAttribute("src");
    this.preview.style.display = "none";
    this.placeholder.style.display = "";
    delete this.root.dataset.preview;
    delete this.root.dataset.finishRequested;
    delete this.root.dataset.strip;
    delete this.root.dataset.warmStart;
    this.strip.replaceChildren();
    this.warm.textContent = "";
    this.showError("");
  }

  renderWarmStart(data) {
    // null or absent: trained from random weights.
    const steps = data.warm_start_steps;
    if (steps == null || !Number.isFinite(Number(steps))) {
      // "shipped", "shipped <name>" (the shipped priors), a prior file's name, or "" (random weights)
      const prior = data.prior ? (String(data.prior).startsWith("shipped") ? "the shipped prior's weights"
                                                                             : `the weights of ${data.prior}`)
                               : "random weights";
      this.warm.textContent = `Fresh start (${prior})`;
      this.root.dataset.warmStart = "";
      return;
    }
    const from = data.warm_start_from ? ` (${data.warm_start_from})` : "";
    this.warm.textContent = `Warm start: continues a model of ${Number(steps).toLocaleString("en")} steps${from}`;
    this.warm.title = this.warm.textContent;
    this.root.dataset.warmStart = String(steps);
  }

  renderStrip(items) {
    const images = items
      .filter((item) => item && typeof item.image === "string" && item.image.startsWith("data:image/"))
      .map((item) => {
        const img = css(el("img", "patch-toon-strip-frame"), {
          flex: "1 1 0", minWidth: "0", height: "100%", objectFit: "contain",
        });
        img.src = item.image;
        img.alt = img.title = `Frame ${item.frame}`;
        img.dataset.frame = String(item.frame);
        return img;
      });
    if (!images.length) return;
    this.strip.replaceChildren(...images);
    this.root.dataset.strip = String(images.length);
  }

  stopped() {
    // The node ended without a final event (error or Cancel): keep the chart, say so.
    if (this.state !== "running") return;
    this.state = "stopped";
    this.root.dataset.state = this.state;
    this.finishButton.disabled = true;
    this.finishButton.textContent = "Finish now";
    this.status.textContent += " · stopped";
  }

  async requestFinish() {
    this.finishButton.disabled = true;
    this.finishButton.textContent = "Finishing…";
    this.showError("");
    try {
      const response = await api.fetchApi("/patch_toon/finish", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ node: this.serverNodeId ?? String(this.node.id) }),
      });
      if (!response.ok) throw await routeError(response);
      this.root.dataset.finishRequested = "1";
    } catch (error) {
      // Shown on the node (both frontends) and as a toast (today's): the console alone reaches no one.
      const message = `Finish now failed: ${error.message}`;
      console.warn("patch-toon:", message);
      this.showError(message);
      toast("error", "patch-toon: Finish now", error.message);
      this.finishButton.textContent = "Finish now";
      this.finishButton.disabled = this.state !== "running";
    }
  }

  color(name) {
    if (name === "total") return TOTAL_COLOR;
    return COLORS[this.terms.filter((term) => term !== "total").indexOf(name) % COLORS.length];
  }

  renderLegend(losses) {
    const items = this.terms.map((name) => {
      const item = el("span", "patch-toon-legend-item", `${name} ${formatLoss(losses[name])}`);
      item.dataset.term = name;
      return css(item, { color: this.color(name) });
    });
    this.legend.replaceChildren(...items);
  }

  draw() {
    const canvas = this.chart;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = "rgba(0, 0, 0, 0.25)";
    ctx.fillRect(0, 0, width, height);
    if (this.history.length < 1) return;

    // Log scale: the terms differ by orders of magnitude and all fall over training.
    let low = Infinity, high = -Infinity;
    for (const point of this.history) {
      for (const name of this.terms) {
        const v = point.losses[name];
        if (Number.isFinite(v) && v > 0) {
          low = Math.min(low, Math.log10(v));
          high = Math.max(high, Math.log10(v));
        }
      }
    }
    if (!Number.isFinite(low)) return;
    if (high - low < 0.1) { low -= 0.05; high += 0.05; }
    const first = this.history[0].step, lastStep = this.history[this.history.length - 1].step;
    const pad = 4 * ratio;
    // The range of the log axis, in a gutter on the left.
    const top = formatLoss(10 ** high), bottom = formatLoss(10 ** low);
    ctx.font = `${10 * ratio}px sans-serif`;
    const gutter = Math.max(ctx.measureText(top).width, ctx.measureText(bottom).width) + 2 * pad;
    ctx.fillStyle = "rgba(255, 255, 255, 0.6)";
    ctx.textBaseline = "top";
    ctx.fillText(top, pad, pad);
    ctx.textBaseline = "bottom";
    ctx.fillText(bottom, pad, height - pad);
    const x = (step) => gutter + ((step - first) / Math.max(1, lastStep - first)) * (width - gutter - pad);
    const y = (v) => pad + (1 - (Math.log10(v) - low) / (high - low)) * (height - 2 * pad);

    this.terms.forEach((name) => {
      const total = name === "total";
      ctx.strokeStyle = this.color(name);
      ctx.lineWidth = (total ? 2 : 1) * ratio;
      ctx.beginPath();
      let started = false;
      for (const point of this.history) {
        const v = point.losses[name];
        if (!(Number.isFinite(v) && v > 0)) continue;
        if (started) ctx.lineTo(x(point.step), y(v));
        else { ctx.moveTo(x(point.step), y(v)); started = true; }
      }
      if (this.history.length === 1 && started) ctx.lineTo(x(lastStep) + 1, y(this.history[0].losses[name]));
      ctx.stroke();
    });
  }

  remove() {
    this.resizeObserver?.disconnect();
    monitors.delete(this);
  }
}

function monitorFor(nodeId) {
  for (const monitor of monitors) {
    if (monitor.matches(nodeId)) return monitor;
  }
  return null;
}

app.registerExtension({
  name: "patch_toon.TrainingMonitor",
  // Today's frontend registers the settings listed here; the 2024 one ignores the list (see setup()).
  settings: [THUMBNAILS_SETTING_DEF],

  async setup() {
    const legacy = app.ui?.settings;
    if (!app.extensionManager?.setting && typeof legacy?.addSetting === "function"
        && !(legacy.settingsLookup && THUMBNAILS_SETTING in legacy.settingsLookup)) {
      const { category, ...definition } = THUMBNAILS_SETTING_DEF; // the 2024 dialog is one flat list
      legacy.addSetting({ ...definition, name: `patch-toon: ${definition.name}` });
    }
    api.addEventListener("status", () => tellServer()); // the first one carries this page's id
    api.addEventListener("reconnected", () => { told = null; tellServer(); });
    tellServer();
    api.addEventListener(EVENT, ({ detail }) => {
      if (!detail || detail.node == null) return;
      monitorFor(detail.node)?.update(detail);
    });
    // "executing" names the node that runs now (null once the prompt is done): a monitor whose
    // node is no longer running and never got its final event was stopped by an error or Cancel.
    api.addEventListener("executing", ({ detail }) => {
      const running = detail && typeof detail === "object" ? detail.node : detail;
      for (const monitor of monitors) {
        if (running == null || !monitor.matches(running)) monitor.stopped();
      }
    });
  },

  nodeCreated(node) {
    if (!NODE_TYPES.has(node.comfyClass)) return;
    const monitor = new TrainingMonitor(node);
    monitors.add(monitor);
    const onRemoved = node.onRemoved;
    node.onRemoved = function () {
      monitor.remove();
      return onRemoved?.apply(this, arguments);
    };
    // The 2024 frontend saves every widget's value by position: drop the monitor's slot so that
    // saved workflows hold the node's own widget values only.
    const onSerialize = node.onSerialize;
    node.onSerialize = function (data) {
      onSerialize?.apply(this, arguments);
      const index = this.widgets?.indexOf(monitor.widget) ?? -1;
      if (index >= 0 && Array.isArray(data.widgets_values) && index === this.widgets.length - 1
          && data.widgets_values.length > index) {
        data.widgets_values.length = index;
      }
    };
  },
});
