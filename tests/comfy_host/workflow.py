"""Converts a workflow saved by ComfyUI's page (UI format) into the API prompt that POST /prompt takes.

Mirrors what the page's graphToPrompt does, for the legacy LiteGraph frontend of 2024 and for
today's frontend (workflow format 0.4 with links as arrays, and 1.0 with links as objects):

- widget values: `widgets_values` is matched to the node's widget inputs in /object_info order
  (required, then optional). Inputs that make a widget: a combo (list of choices, or "COMBO"),
  INT, FLOAT, STRING, BOOLEAN. Extra values the page stores beside them are skipped: the
  "control_after_generate" value after a seed (an INT named seed/noise_seed, or any input
  with the control_after_generate option), plus the "control_filter_list" value after such a
  combo, and the upload button of image_upload inputs (after the last required input, as the
  2024 page appends it). Optional widgets missing at the end (a workflow saved before they were
  added to the node) take their default, as the page gives them. A `forceInput` input has a widget value only when the node lists it
  with a `widget` key (the 2024 page does, today's does not).
- links: an input with a link (widget converted to input, or a plain socket) takes
  [origin_id, origin_slot]; links are followed through Reroute nodes and bypassed nodes
  (mode 4: an input of the same type passes through), and dropped when they come from a
  muted node (mode 2). A link from a PrimitiveNode becomes its value.
- nodes: muted and bypassed nodes, Note/MarkdownNote, Reroute and PrimitiveNode are left out.
  Subgraphs and group nodes are not supported and raise.
"""

from __future__ import annotations

from typing import Any

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SEED_NAMES = {"seed", "noise_seed"}  # the 2024 page's "INT:seed" and "INT:noise_seed" widgets
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize", "increment-wrap"}
UPLOAD_OPTIONS = ("image_upload", "video_upload", "audio_upload")
VIRTUAL_NODES = {"Reroute", "PrimitiveNode", "Note", "MarkdownNote"}
MUTED, BYPASSED = 2, 4


class WorkflowError(ValueError):
    """The workflow cannot be converted: names the node, what was expected and what was found."""


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Returns the API prompt {node_id: {"class_type", "inputs", "_meta"}} of a UI-format workflow."""
    if "nodes" not in workflow:
        raise WorkflowError("workflow: expected the UI format with a 'nodes' list (as saved by ComfyUI's "
                            "page); received keys %s. An API-format prompt needs no conversion." % sorted(workflow)[:5])
    subgraph_ids = {sub.get("id") for sub in (workflow.get("definitions") or {}).get("subgraphs", [])}
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = _links_by_id(workflow.get("links", []))
    prompt: dict[str, Any] = {}
    for node in workflow["nodes"]:
        node_type = node.get("type")
        if node.get("mode", 0) in (MUTED, BYPASSED) or node_type in VIRTUAL_NODES:
            continue
        if node_type in subgraph_ids or str(node_type).startswith("workflow/"):
            raise WorkflowError(f"node {node['id']} ({node_type}): subgraphs and group nodes are not supported; "
                                "unpack them in ComfyUI and save again.")
        if node_type not in object_info:
            raise WorkflowError(f"node {node['id']}: type {node_type!r} is not in /object_info; "
                                "is its custom node pack installed and did it import without error?")
        inputs = _widget_inputs(node, object_info[node_type])
        for socket in node.get("inputs") or []:
            if socket.get("link") is None:
                continue
            source = _resolve_link(links[socket["link"]], socket.get("type"), nodes, links)
            if source is None:
                inputs.pop(socket["name"], None)  # from a muted node or a dead end, as the page does
            elif source[0] == "value":
                inputs[socket["name"]] = source[1]
            else:
                inputs[socket["name"]] = [str(source[0]), int(source[1])]
        prompt[str(node["id"])] = {"inputs": inputs, "class_type": node_type,
                                   "_meta": {"title": node.get("title") or object_info[node_type].get("display_name", node_type)}}
    return prompt


def _links_by_id(raw_links: list) -> dict:
    """Link id -> (origin_id, origin_slot, target_id, target_slot, type); both saved layouts."""
    links = {}
    for link in raw_links:
        if isinstance(link, dict):  # workflow format 1.0
            links[link["id"]] = (link["origin_id"], link["origin_slot"], link["target_id"],
                                 link["target_slot"], link.get("type"))
        else:  # [id, origin_id, origin_slot, target_id, target_slot, type]
            links[link[0]] = tuple(link[1:6])
    return links


def _resolve_link(link: tuple, wanted_type: str | None, nodes: dict, links: dict):
    """Follows a link back to a real node: ("value", v) for a PrimitiveNode, (id, slot), or None."""
    for _ in range(len(nodes) + 1):
        origin_id, origin_slot = link[0], link[1]
        origin = nodes.get(origin_id)
        if origin is None or origin.get("mode", 0) == MUTED:
            return None
        if origin.get("type") == "PrimitiveNode":
            values = origin.get("widgets_values") or []
            return ("value", values[0]) if values else None
        if origin.get("type") == "Reroute":
            next_link = _input_link(origin, 0)
        elif origin.get("mode", 0) == BYPASSED:
            # The page passes through the input at the output's index if its type matches,
            # else the first input of the wanted type.
            candidates = [origin_slot] + list(range(len(origin.get("inputs") or [])))
            next_link = None
            for index in candidates:
                sockets = origin.get("inputs") or []
                if index < len(sockets) and sockets[index].get("type") == (wanted_type or link[4]):
                    next_link = _input_link(origin, index)
                    break
            else:
                return None
        else:
            return origin_id, origin_slot
        if next_link is None:
            return None
        link = links[next_link]
    raise WorkflowError(f"links form a loop through node {link[0]}")


def _input_link(node: dict, index: int):
    sockets = node.get("inputs") or []
    return sockets[index].get("link") if index < len(sockets) else None


def _widget_inputs(node: dict, info: dict) -> dict:
    """Maps the node's widgets_values to input names, skipping the page-only values."""
    values = node.get("widgets_values")
    if values is None:
        return {}
    if isinstance(values, dict):  # some custom nodes save their widgets by name
        return {key: value for key, value in values.items() if key in _all_inputs(info)}
    sockets = {socket["name"]: socket for socket in node.get("inputs") or []}
    required = list((info.get("input", {}).get("required") or {}).items())
    optional = list((info.get("input", {}).get("optional") or {}).items())
    result, position = {}, 0

    def take():
        nonlocal position
        if position >= len(values):
            raise WorkflowError(
                f"node {node['id']} ({node['type']}): widgets_values has {len(values)} values, fewer than its "
                f"widget inputs in /object_info ({[name for name, _ in required + optional]}); saved by another "
                "version of the node?")
        position += 1
        return values[position - 1]

    def skip_if(predicate) -> None:
        nonlocal position
        if position < len(values) and predicate(values[position]):
            position += 1

    for group_index, group in enumerate((required, optional)):
        for name, spec in group:
            kind = spec[0] if isinstance(spec, (list, tuple)) and spec else spec
            options = spec[1] if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict) else {}
            is_combo = isinstance(kind, list) or kind == "COMBO"
            if not (is_combo or kind in WIDGET_TYPES):
                continue
            if options.get("forceInput") and "widget" not in sockets.get(name, {}):
                continue
            if group_index == 1 and position >= len(values):
                # A workflow saved before this optional widget existed: the page keeps the widget's default.
                if "default" in options:
                    result[name] = options["default"]
                continue
            result[name] = take()
            if kind == "INT" and (name in SEED_NAMES or options.get("control_after_generate")):
                skip_if(lambda v: v in CONTROL_VALUES)
            elif is_combo and options.get("control_after_generate"):
                skip_if(lambda v: v in CONTROL_VALUES)
                skip_if(lambda v: isinstance(v, str))  # control_filter_list
        if group_index == 0:
            for _name, spec in required:
                options = spec[1] if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict) else {}
                if any(options.get(flag) for flag in UPLOAD_OPTIONS):
                    skip_if(lambda v: isinstance(v, str))  # the upload button's value ("image")
    if position != len(values):
        raise WorkflowError(
            f"node {node['id']} ({node['type']}): widgets_values has {len(values)} values, but its widget "
            f"inputs in /object_info account for {position} ({sorted(result)}); saved by another version "
            "of the node?")
    return result


def _all_inputs(info: dict) -> set:
    spec = info.get("input", {})
    return set(spec.get("required") or {}) | set(spec.get("optional") or {})
