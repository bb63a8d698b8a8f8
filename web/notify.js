// Telling the user something from the pack's web extensions (a plain module: it registers nothing).
//
// Today's frontend has a toast service, app.extensionManager.toast; the 2024 frontend has no
// extensionManager. So toast() is only ever a second channel: each caller also shows its message in
// its own UI (a text on the node, a line in a dialog), which both frontends have.
import { app } from "../../scripts/app.js";

const TOAST_LIFE = 8000; // ms

/** Shows a toast on today's frontend; false (and nothing shown) where there is no toast service. */
export function toast(severity, summary, detail, life = TOAST_LIFE) {
  const service = app.extensionManager?.toast;
  if (typeof service?.add !== "function") return false;
  try {
    service.add({ severity, summary, detail, life });
    return true;
  } catch (error) {
    console.warn("patch-toon: the frontend refused a toast", error);
    return false;
  }
}

/** An Error with the message a pack route answered ({"error": "..."}, see nodes/routes.py), else the HTTP status. */
export async function routeError(response) {
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && typeof body.error === "string" && body.error) message = body.error;
  } catch {
    // not JSON (a proxy's error page): the status says enough
  }
  return new Error(message);
}
