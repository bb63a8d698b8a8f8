"""tools/record_object_info.py: what it keeps of a server's /object_info, and that it keeps the inputs' order."""
import importlib.util
import json

from support import REPO  # noqa: F401  (tests/ on sys.path, as in the other unit tests)

TOOL = REPO / "tools" / "record_object_info.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("record_object_info", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OBJECT_INFO = {
    "KSampler": {"input": {"required": {"seed": ["INT", {"default": 0, "min": 0, "tooltip": "noise"}],
                                        "steps": ["INT", {"default": 20, "min": 1, "max": 10000}],
                                        "cfg": ["FLOAT", {"default": 8.0}]}},
                 "input_order": {"required": ["seed", "steps", "cfg"]}, "output": ["LATENT"],
                 "output_is_list": [False], "output_name": ["LATENT"], "name": "KSampler",
                 "display_name": "KSampler", "description": "Denoises.", "category": "sampling",
                 "python_module": "nodes", "output_node": False, "output_tooltips": ["the latent"]},
    "PatchToonTrain": {"input": {"required": {}}, "output": [], "name": "PatchToonTrain"},
}
STATS = {"system": {"comfyui_version": "0.8.0", "required_frontend_version": "1.35.9", "pytorch_version": "2.13.0"}}


def test_the_record_leaves_out_the_pack_and_the_prose_and_keeps_the_input_order():
    tool = load_tool()
    data = json.loads(tool.dumps(tool.record(OBJECT_INFO, STATS, "http://127.0.0.1:1")))
    assert list(data["nodes"]) == ["KSampler"]
    assert data["comfyui"]["version"] == "0.8.0" and data["comfyui"]["frontend_version"] == "1.35.9"
    sampler = data["nodes"]["KSampler"]
    assert list(sampler["input"]["required"]) == ["seed", "steps", "cfg"]  # the order widget values follow
    assert sampler["input"]["required"]["seed"] == ["INT", {"default": 0, "min": 0}]
    assert "description" not in sampler and "output_tooltips" not in sampler
    assert sampler["output"] == ["LATENT"] and sampler["category"] == "sampling"


def test_the_recorded_v08_fixture_keeps_the_inputs_in_the_servers_order():
    nodes = json.loads((REPO / "tests" / "fixtures" / "object_info_comfyui_v0.8.0.json").read_text())["nodes"]
    for name, info in nodes.items():
        for group, order in info.get("input_order", {}).items():
            assert list(info["input"].get(group) or {}) == order, name
    assert not [name for name in nodes if name.startswith("PatchToon")]


def test_the_tool_refuses_to_overwrite_a_file(tmp_path):
    out = tmp_path / "info.json"
    out.write_text("mine")
    assert load_tool().main(["http://127.0.0.1:1", str(out)]) == 2
    assert out.read_text() == "mine"
