"""Records a running ComfyUI server's node definitions (/object_info) as test data, less patch-toon's own nodes.

    .venv/bin/python tools/record_object_info.py http://127.0.0.1:8288 tests/fixtures/object_info_comfyui_v0.8.0.json

The file holds what checking a workflow against that server needs, and nothing of ComfyUI's code: per node its
input specs (types, combo choices, defaults, ranges; tooltips dropped), input order, outputs and their types,
names and category, and the server's version from /system_stats. The pack's nodes (ids starting with
"PatchToon") are left out: tests take them live from the server they start, so the file never goes stale for
them. Only the standard library is used. Refuses to overwrite an existing OUT unless --overwrite is given.
"""
import argparse
import datetime
import json
import sys
import urllib.request
from pathlib import Path

PACK_PREFIX = "PatchToon"  # every node id of this pack (STYLE.md); tests/unit checks the pack keeps to it
KEPT_FIELDS = ("input", "input_order", "output", "output_is_list", "output_name", "name", "display_name",
               "category", "python_module", "output_node", "deprecated", "experimental")
DROPPED_OPTIONS = ("tooltip",)  # prose, not needed to validate a workflow


def fetch_json(url: str, timeout: float = 120.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def trimmed_spec(spec):
    """An input spec [kind, options] without its prose options."""
    if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict):
        return [spec[0], {k: v for k, v in spec[1].items() if k not in DROPPED_OPTIONS}, *spec[2:]]
    return spec


def trimmed_node(info: dict) -> dict:
    node = {field: info[field] for field in KEPT_FIELDS if field in info}
    node["input"] = {group: {name: trimmed_spec(spec) for name, spec in (specs or {}).items()}
                     for group, specs in (info.get("input") or {}).items()}
    return node


def record(object_info: dict, system_stats: dict, source: str) -> dict:
    """The fixture's content: {"comfyui": version facts, "nodes": {id: trimmed definition}}."""
    system = system_stats.get("system", {})
    nodes = {name: trimmed_node(info) for name, info in sorted(object_info.items())
             if not name.startswith(PACK_PREFIX)}
    return {"comfyui": {"version": system.get("comfyui_version"),
                        "frontend_version": system.get("required_frontend_version"),
                        "pytorch_version": system.get("pytorch_version"),
                        "recorded_from": source,
                        "recorded_on": datetime.date.today().isoformat(),
                        "left_out": f"node ids starting with {PACK_PREFIX!r} (this pack's own)"},
            "nodes": nodes}


def dumps(data: dict) -> str:
    """JSON with one node per line: small, and a new ComfyUI's changes show node by node in a diff. Keys keep
    the server's order: a saved workflow's widget values follow the order of its nodes' inputs."""
    nodes = ",\n".join(f" {json.dumps(name)}: {json.dumps(info)}"
                        for name, info in data["nodes"].items())
    return f'{{"comfyui": {json.dumps(data["comfyui"], sort_keys=True)},\n"nodes": {{\n{nodes}\n}}}}\n'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the server's address, e.g. http://127.0.0.1:8288")
    parser.add_argument("out", type=Path, help="the JSON file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.overwrite:
        print(f"{args.out} exists: pass --overwrite to replace it", file=sys.stderr)
        return 2
    base = args.url.rstrip("/")
    data = record(fetch_json(base + "/object_info"), fetch_json(base + "/system_stats"), base)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    temporary = args.out.with_name(args.out.name + ".partial")
    temporary.write_text(dumps(data))
    temporary.replace(args.out)
    print(f"{args.out}: {len(data['nodes'])} nodes of ComfyUI {data['comfyui']['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
