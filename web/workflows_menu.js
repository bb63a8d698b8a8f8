// Example workflows one click away: a dialog that lists the pack's example workflows
// (GET /patch_toon/workflows) and loads the chosen one into the canvas with app.loadGraphData.
//
// Opened from the top menu of today's frontend (Extensions > patch-toon, through the documented
// `commands` and `menuCommands` of registerExtension) and from a button in the side menu of the
// legacy frontend (2024), which has no top menu. Each frontend ignores the other's entry point.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { css, el } from "./dom.js";
import { routeError, toast } from "./notify.js";

const COMMAND_ID = "patch_toon.ExampleWorkflows";
const LABEL = "patch-toon example workflows";
const DIALOG_CLASS = "patch-toon-workflows-dialog";


async function fetchJson(route) {
  const response = await api.fetchApi(route, { cache: "no-store" });
  if (!response.ok) throw await routeError(response);
  return response.json();
}

export async function loadExampleWorkflow(name) {
  const workflow = await fetchJson(`/patch_toon/workflows/${encodeURIComponent(name)}`);
  // The 4th argument names the workflow tab in today's frontend; the 2024 one ignores it.
  await app.loadGraphData(workflow, true, true, `${name}.json`);
  return workflow;
}

function closeDialog() {
  document.querySelector(`.${DIALOG_CLASS}`)?.remove();
}

export async function openDialog() {
  closeDialog();
  const overlay = css(el("div", DIALOG_CLASS), {
    position: "fixed", inset: "0", zIndex: "10000", display: "flex",
    alignItems: "center", justifyContent: "center", background: "rgba(0, 0, 0, 0.5)",
  });
  const panel = css(el("div", "patch-toon-workflows-panel"), {
    minWidth: "320px", maxWidth: "560px", maxHeight: "80vh", overflowY: "auto", padding: "16px",
    borderRadius: "8px", font: "14px sans-serif", color: "var(--fg-color, #ddd)",
    background: "var(--comfy-menu-bg, #353535)", border: "1px solid var(--border-color, #555)",
    boxShadow: "0 4px 24px rgba(0, 0, 0, 0.5)",
  });
  const header = css(el("div"), { display: "flex", justifyContent: "space-between", gap: "16px", marginBottom: "8px" });
  const title = css(el("strong", "", "patch-toon: example workflows"), { fontSize: "16px" });
  const close = el("button", "patch-toon-workflows-close", "Close");
  close.addEventListener("click", closeDialog);
  header.append(title, close);
  const list = el("div", "patch-toon-workflows-list", "Loading…");
  panel.append(header, list);
  overlay.append(panel);
  overlay.addEventListener("click", (event) => { if (event.target === overlay) closeDialog(); });
  overlay.addEventListener("keydown", (event) => { if (event.key === "Escape") closeDialog(); });
  document.body.append(overlay);
  close.focus();

  let workflows;
  try {
    workflows = await fetchJson("/patch_toon/workflows");
  } catch (error) {
    list.textContent = `Could not list the example workflows: ${error.message}`;
    list.dataset.error = error.message;
    toast("error", "patch-toon: example workflows", list.textContent);
    return overlay;
  }
  if (!workflows.length) {
    list.textContent = "This installation of patch-toon has no example workflows.";
    return overlay;
  }
  list.replaceChildren(...workflows.map((item) => {
    const row = css(el("div", "patch-toon-workflow"), {
      display: "flex", alignItems: "center", gap: "12px", padding: "8px 0",
      borderTop: "1px solid var(--border-color, #555)",
    });
    row.dataset.name = item.name;
    const text = css(el("div"), { flex: "1 1 auto" });
    text.append(el("div", "patch-toon-workflow-title", item.title));
    if (item.description) {
      text.append(css(el("div", "patch-toon-workflow-description", item.description), { opacity: "0.7", fontSize: "12px" }));
    }
    const load = el("button", "patch-toon-workflow-load", "Load");
    // Why a load failed, in the row itself (both frontends; today's also gets a toast).
    const failure = css(el("div", "patch-toon-workflow-error", ""), {
      color: "var(--error-text, #ff6b6b)", fontSize: "12px", display: "none",
    });
    failure.setAttribute("role", "alert");
    text.append(failure);
    load.title = `Replace the canvas with ${item.name}.json (${item.nodes} nodes)`;
    load.addEventListener("click", async () => {
      load.disabled = true;
      failure.style.display = "none";
      try {
        await loadExampleWorkflow(item.name);
        closeDialog();
      } catch (error) {
        const message = `Could not load ${item.name}.json: ${error.message}`;
        console.warn("patch-toon:", message);
        failure.textContent = message;
        failure.style.display = "";
        row.dataset.error = error.message;
        toast("error", "patch-toon: example workflows", message);
        load.disabled = false;
        load.textContent = "Retry";
      }
    });
    row.append(text, load);
    return row;
  }));
  return overlay;
}

app.registerExtension({
  name: "patch_toon.ExampleWorkflows",
  commands: [{ id: COMMAND_ID, label: LABEL, icon: "pi pi-images", function: () => openDialog() }],
  menuCommands: [{ path: ["Extensions", "patch-toon"], commands: [COMMAND_ID] }],

  async setup() {
    // The 2024 frontend's side menu (hidden, when present at all, in today's frontend).
    const menu = app.ui?.menuContainer;
    if (!menu) return;
    const button = el("button", "patch-toon-workflows-button", "Toon Examples");
    button.id = "patch-toon-workflows-button";
    button.title = "Load one of patch-toon's example workflows";
    button.addEventListener("click", () => openDialog());
    const loadDefault = menu.querySelector("#comfy-load-default-button");
    if (loadDefault) loadDefault.after(button);
    else menu.append(button);
  },
});
