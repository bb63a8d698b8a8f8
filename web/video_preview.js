// The stylized video plays on the node (Stylize Video File) on the 2024 frontend. The node's `ui` sends the MP4
// as core's Save Video does ({"images": [{filename, subfolder, type}], "animated": [true]}), which today's
// frontend plays as a video by itself; the 2024 frontend would load it as an <img> and show nothing, so there this
// extension takes the MP4 out of the node's image outputs and shows it in a <video> instead.
//
// Only documented extension points are used (registerExtension, beforeRegisterNodeDef, the node's onExecuted,
// addDOMWidget). The player is not a node input: it is left out of the prompt and of the saved widgets_values.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { css, el, omitFromSavedValues } from "./dom.js";

const PREFIX = "PatchToon";
const WIDGET_NAME = "patch_toon_video";
const VIDEO_SUFFIXES = [".mp4", ".webm", ".mov", ".m4v", ".mkv"];
const HEIGHT = 220; // px the player takes on the node
const MARGIN = 20; // px the frontend keeps around a DOM widget

/** The video files among a `ui` dict's animated images (empty for anything else). */
export function videoFiles(ui) {
  if (!ui || !Array.isArray(ui.images) || !(ui.animated ?? []).some(Boolean)) return [];
  return ui.images.filter((file) => VIDEO_SUFFIXES.some((s) => String(file?.filename ?? "").toLowerCase().endsWith(s)));
}

/** True on today's frontend, which plays core's video payload itself (the 2024 one has no extensionManager). */
function frontendPlaysVideos() {
  return Boolean(app.extensionManager);
}

function viewURL(file) {
  const params = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder ?? "", type: file.type ?? "output" });
  return api.apiURL(`/view?${params}`);
}

function playerWidget(node) {
  const existing = node.widgets?.find((w) => w.name === WIDGET_NAME);
  if (existing) return existing;
  const video = css(el("video", "patch-toon-video"), {
    width: "100%", height: "100%", objectFit: "contain", background: "#000", borderRadius: "4px",
  });
  Object.assign(video, { controls: true, loop: true, muted: true, autoplay: true, playsInline: true });
  const widget = node.addDOMWidget(WIDGET_NAME, "patch_toon_video", video, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => undefined,
    setValue: () => {},
    getMinHeight: () => HEIGHT + MARGIN,
    getHeight: () => HEIGHT + MARGIN,
  });
  widget.serialize = false;
  widget.patchToonVideo = video;
  return widget;
}

/** Plays `file` (an output-folder entry) on the node. */
export function showVideo(node, file) {
  const video = playerWidget(node).patchToonVideo;
  video.src = viewURL(file);
  video.dataset.filename = file.filename;
  const size = node.computeSize?.();
  if (size) node.setSize([Math.max(node.size[0], size[0]), Math.max(node.size[1], size[1])]);
  app.graph?.setDirtyCanvas(true, true);
}

app.registerExtension({
  name: "patch_toon.VideoPreview",

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!String(nodeData?.name ?? "").startsWith(PREFIX) || frontendPlaysVideos()) return;

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (ui) {
      const result = onExecuted?.apply(this, arguments);
      const files = videoFiles(ui);
      if (files.length) {
        const outputs = app.nodeOutputs?.[String(this.id)];
        if (outputs) delete outputs.images; // not an image: the 2024 frontend would try to draw it
        showVideo(this, files[0]);
      }
      return result;
    };

    omitFromSavedValues(nodeType, WIDGET_NAME); // not a node input: out of the saved widgets_values
  },
});
