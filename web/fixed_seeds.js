// Seeds of the pack's nodes start "fixed" on a freshly added node.
//
// Both frontends give an INT input named `seed` a "control after generate" widget that starts at
// "randomize": every queue would then change the seed, and a training node would retrain from scratch
// (a new seed asks for a new start, so it also ends a warm-start chain). The classic node API has no
// portable way to declare another default: the 2024 page always starts the control at "randomize" (a
// string `control_after_generate` option only renames the widget there), and the frontends that read a
// string as the default value also take it for the widget's name, and some releases between them
// allow only a boolean there in their node-definition schema. So the default is set here, on the
// page, through the documented `nodeCreated` hook of both frontends.
//
// `nodeCreated` runs in the node's constructor, before a saved workflow's values are applied to it
// (`configure`): a loaded or pasted node keeps the value it was saved with ("randomize" included);
// only a node added from the menu, the search box or a drag of a link starts at "fixed".
import { app } from "../../scripts/app.js";

const PACK_PREFIX = "PatchToon";
const SEED_INPUTS = new Set(["seed"]);
const FROM = "randomize";
const TO = "fixed";


export function fixSeedControls(node) {
  let fixed = 0;
  for (const widget of node.widgets ?? []) {
    if (!SEED_INPUTS.has(widget.name)) continue;
    for (const control of widget.linkedWidgets ?? []) {
      const values = control.options?.values;
      if (control.value === FROM && Array.isArray(values) && values.includes(TO)) {
        control.value = TO;
        fixed += 1;
      }
    }
  }
  return fixed;
}

app.registerExtension({
  name: "patch_toon.FixedSeeds",
  nodeCreated(node) {
    if (String(node.comfyClass ?? "").startsWith(PACK_PREFIX)) fixSeedControls(node);
  },
});
