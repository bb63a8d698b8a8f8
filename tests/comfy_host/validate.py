"""Checks a UI-format workflow against a server's node definitions (/object_info), as the server would on queueing.

`workflow_problems(workflow, object_info)` lists, in words, what a server with those definitions would refuse
or mis-wire: a node type it lacks; a link whose type differs from its origin's output or its target's input; a
required input left empty; a widget value that does not fit its input (a combo choice not in the list, a number
out of range or of the wrong kind, a string or boolean of the wrong kind). Model file names (values ending in a
weights file extension) are exempt from the combo check: they name the user's files, which no test host has.
An empty list means the workflow checks out. Works on the 2024 /object_info and on today's (where a combo is
`["COMBO", {"options": [...]}]`).
"""

from __future__ import annotations

from .workflow import MUTED, BYPASSED, VIRTUAL_NODES, WorkflowError, ui_to_api

MODEL_FILE_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx")
ANY_TYPES = {"*", ""}


def merged_object_info(core: dict, pack: dict, prefix: str = "PatchToon") -> dict:
    """A host's core node definitions with this pack's (the ids starting with `prefix`) taken from `pack`."""
    return {**{name: info for name, info in core.items() if not name.startswith(prefix)},
            **{name: info for name, info in pack.items() if name.startswith(prefix)}}


def missing_node_types(workflow: dict, object_info: dict) -> list[str]:
    """The node types of the workflow (real nodes, not notes or reroutes) that the definitions lack."""
    return sorted({node["type"] for node in workflow["nodes"]
                   if node["type"] not in VIRTUAL_NODES and node["type"] not in object_info})


def workflow_problems(workflow: dict, object_info: dict) -> list[str]:
    missing = missing_node_types(workflow, object_info)
    if missing:
        return [f"node type {name!r} is not on the server" for name in missing]
    problems = _link_problems(workflow, object_info)
    try:
        prompt = ui_to_api(workflow, object_info)
    except WorkflowError as error:
        return problems + [str(error)]
    for node_id, node in prompt.items():
        problems += [f"node {node_id} ({node['class_type']}): {problem}"
                     for problem in _input_problems(node["inputs"], object_info[node["class_type"]])]
    return problems


def _spec_kind_and_options(spec) -> tuple:
    kind = spec[0] if isinstance(spec, (list, tuple)) and spec else spec
    options = spec[1] if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict) else {}
    return kind, options


def _combo_choices(kind, options) -> list | None:
    if isinstance(kind, list):
        return kind
    if kind == "COMBO":
        return list(options.get("options") or [])
    return None


def _input_specs(info: dict) -> dict:
    spec = info.get("input", {})
    return {**(spec.get("required") or {}), **(spec.get("optional") or {})}


def _types_match(wanted, given) -> bool:
    if isinstance(wanted, list):  # a combo input converted to a socket
        wanted = "COMBO"
    if wanted in ANY_TYPES or given in ANY_TYPES:
        return True
    return set(str(wanted).split(",")) & set(str(given).split(",")) != set()


def _link_problems(workflow: dict, object_info: dict) -> list[str]:
    nodes = {node["id"]: node for node in workflow["nodes"]}
    problems = []
    for link in workflow.get("links", []):
        if isinstance(link, dict):
            link = [link["id"], link["origin_id"], link["origin_slot"], link["target_id"], link["target_slot"],
                    link.get("type")]
        link_id, origin_id, origin_slot, target_id, target_slot, type_ = link[:6]
        origin, target = nodes.get(origin_id), nodes.get(target_id)
        if origin is None or target is None:
            problems.append(f"link {link_id}: joins a node that is not in the workflow ({origin_id} -> {target_id})")
            continue
        if origin.get("mode", 0) in (MUTED, BYPASSED) or target.get("mode", 0) in (MUTED, BYPASSED):
            continue
        if origin["type"] in object_info:
            outputs = object_info[origin["type"]]["output"]
            if origin_slot >= len(outputs):
                problems.append(f"link {link_id}: {origin['type']} has no output {origin_slot}")
            elif not _types_match(outputs[origin_slot], type_):
                problems.append(f"link {link_id}: {origin['type']} output {origin_slot} is "
                                f"{outputs[origin_slot]}, the link says {type_}")
        if target["type"] in object_info:
            sockets = target.get("inputs") or []
            if target_slot >= len(sockets):
                problems.append(f"link {link_id}: node {target_id} ({target['type']}) has no input slot {target_slot}")
                continue
            name = sockets[target_slot]["name"]
            specs = _input_specs(object_info[target["type"]])
            if name not in specs:
                problems.append(f"link {link_id}: {target['type']} has no input {name!r}")
            elif not _types_match(_spec_kind_and_options(specs[name])[0], type_):
                problems.append(f"link {link_id}: {target['type']} input {name!r} takes "
                                f"{_spec_kind_and_options(specs[name])[0]}, the link brings {type_}")
    return problems


def _input_problems(inputs: dict, info: dict) -> list[str]:
    problems = []
    required = (info.get("input", {}).get("required") or {})
    for name in required:
        if name not in inputs:
            problems.append(f"required input {name!r} has no value and no link")
    for name, value in inputs.items():
        spec = _input_specs(info).get(name)
        if spec is None or isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            continue  # a link, checked by _link_problems
        kind, options = _spec_kind_and_options(spec)
        problem = _value_problem(kind, options, value)
        if problem:
            problems.append(f"{name}: {problem}")
    return problems


def _value_problem(kind, options: dict, value) -> str | None:
    choices = _combo_choices(kind, options)
    if choices is not None:
        if value in choices or isinstance(value, str) and value.lower().endswith(MODEL_FILE_EXTENSIONS):
            return None
        return f"{value!r} is not one of its choices {choices[:8]}{' ...' if len(choices) > 8 else ''}"
    if kind in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or kind == "INT" and not (
                isinstance(value, int) or float(value).is_integer()):
            return f"expected {kind}, received {value!r}"
        low, high = options.get("min"), options.get("max")
        if low is not None and value < low or high is not None and value > high:
            return f"{value} is out of range [{low}, {high}]"
    elif kind == "BOOLEAN" and not isinstance(value, bool):
        return f"expected BOOLEAN, received {value!r}"
    elif kind == "STRING" and not isinstance(value, str):
        return f"expected STRING, received {value!r}"
    return None
