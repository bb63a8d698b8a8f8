// Node messages on the node: after one of the pack's nodes (type "PatchToon...") runs, the lines it
// returned in its `ui` dict appear in a small read-only text box at the bottom of the node ("text":
// Suggest Keyframes' suggestion, Make Keyframes' notes, the guides Compute Guides chose (guides auto), Stylize Video
// File's files; "patch_model":
// the file Save Patch Model wrote), and on today's frontend also as a toast. Neither frontend shows a
// node's ui.text by itself.
//
// Only documented extension points are used (registerExtension, beforeRegisterNodeDef, the node's
// onExecuted, which both frontends call with the `ui` dict of the "executed" event, addDOMWidget).
// The box is not a node input: it is left out of the prompt and of the saved workflow's widgets_values.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { css, el, omitFromSavedValues } from "./dom.js";
import { toast } from "./notify.js";

const PREFIX = "PatchToon";
const WIDGET_NAME = "patch_toon_message";
const LINE_HEIGHT = 15; // px per line of text in the box
const MAX_LINES = 5; // a longer message scrolls inside the box instead of growing the node
const CHAR_WIDTH = 6.2; // px, about one character of the box's 11px font: to count wrapped lines
const MARGIN = 20; // px the frontend keeps around a DOM widget (10 on each side)
const PADDING = 8; // px, the box's own padding, top and bottom together

/** The lines to show for a node's `ui` dict (empty: nothing to say). */
export function messageLines(ui) {
  if (!ui || typeof ui !== "object") return [];
  const text = Array.isArray(ui.text) ? ui.text : [];
  const models = Array.isArray(ui.patch_model) ? ui.patch_model : [];
  return [
    ...text.map((line) => String(line ?? "")).filter((line) => line.trim()),
    ...models.map((file) => `saved models/patch_toon/${file}`),
  ];
}

function rowsFor(lines, width) {
  const perRow = Math.max(10, Math.floor((width - MARGIN - PADDING) / CHAR_WIDTH));
  return lines.reduce((rows, line) => rows + Math.max(1, Math.ceil(line.length / perRow)), 0);
}

function messageWidget(node) {
  const existing = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (existing) return existing;
  const box = css(el("textarea", "patch-toon-message"), {
    boxSizing: "border-box", width: "100%", height: "100%", resize: "none", overflowY: "auto",
    padding: `${PADDING / 2}px 6px`, border: "none", borderRadius: "4px", outline: "none",
    font: `11px/${LINE_HEIGHT}px sans-serif`, whiteSpace: "pre-wrap",
    color: "var(--input-text, #ddd)", background: "var(--comfy-input-bg, #222)", opacity: "0.9",
  });
  box.readOnly = true;
  box.tabIndex = -1;
  box.title = "What this node said when it last ran";
  let rows = 1;
  const widget = node.addDOMWidget(WIDGET_NAME, "patch_toon_message", box, {
    serialize: false, // not a node input: left out of the prompt
    hideOnZoom: false,
    getValue: () => undefined,
    setValue: () => {},
    getMinHeight: () => Math.min(rows, MAX_LINES) * LINE_HEIGHT + PADDING + MARGIN,
    getHeight: () => Math.min(rows, MAX_LINES) * LINE_HEIGHT + PADDING + MARGIN,
  });
  widget.serialize = false; // today's frontend: no slot in widgets_values
  widget.patchToonShow = (lines) => {
    rows = lines.length ? rowsFor(lines, node.size[0]) : 1;
    box.value = lines.join("\n");
    box.dataset.lines = String(lines.length);
    box.scrollTop = 0;
  };
  return widget;
}

function fit(node) {
  const size = node.computeSize?.();
  if (!size) return;
  node.setSize([Math.max(node.size[0], size[0]), Math.max(node.size[1], size[1])]);
  app.graph?.setDirtyCanvas(true, true);
}

/** Shows `lines` on the node (and in a toast, where the frontend has them). */
export function showMessage(node, lines) {
  if (!lines.length) return;
  messageWidget(node).patchToonShow(lines);
  fit(node);
  toast("info", node.title || node.type, lines.join("\n"));
}

function clearMessage(node) {
  node?.widgets?.find((w) => w.name === WIDGET_NAME)?.patchToonShow([]);
}

app.registerExtension({
  name: "patch_toon.NodeMessages",

  async setup() {
    // A node that runs again starts with an empty box: a run that has nothing to say (Make Keyframes
    // with no notes) sends no `ui`, and the last run's message would otherwise stay.
    api.addEventListener("executing", ({ detail }) => {
      const id = detail && typeof detail === "object" ? detail.node : detail;
      if (id == null) return;
      const node = app.graph?.getNodeById?.(id);
      if (node?.type?.startsWith(PREFIX)) clearMessage(node);
    });
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!String(nodeData?.name ?? "").startsWith(PREFIX)) return;

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (ui) {
      const result = onExecuted?.apply(this, arguments);
      showMessage(this, messageLines(ui));
      return result;
    };

    // Saved workflows hold the node's own widget values only (and load back into them).
    omitFromSavedValues(nodeType, WIDGET_NAME);
  },
});
