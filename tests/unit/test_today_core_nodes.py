"""tests/fixtures/today_core_nodes.json (today's core nodes as the image-edit workflows use them, written from
ComfyUI v0.8.0's source) agrees with the /object_info recorded from a real v0.8.0 server, where the repository has
that recording (tests/fixtures/object_info_comfyui_v0.8.0.json, tools/record_object_info.py)."""
import json

import pytest

from support import REPO, todays_core_nodes

RECORDED = REPO / "tests" / "fixtures" / "object_info_comfyui_v0.8.0.json"


def recorded_nodes():
    if not RECORDED.is_file():
        pytest.skip(f"{RECORDED.relative_to(REPO)} is not in this checkout: no recorded /object_info to compare with")
    data = json.loads(RECORDED.read_text())
    return data.get("nodes", data)


def kind(spec):
    """An input's type, "COMBO" for a list of choices in either of /object_info's shapes; and its choices."""
    if isinstance(spec[0], list):
        return "COMBO", spec[0]
    if spec[0] == "COMBO":
        return "COMBO", (spec[1] if len(spec) > 1 else {}).get("options")
    return spec[0], None


@pytest.mark.parametrize("name", sorted(todays_core_nodes()))
def test_each_written_definition_matches_the_recorded_server(name):
    ours, theirs = todays_core_nodes()[name], recorded_nodes().get(name)
    assert theirs is not None, f"{name}: not a core node of the recorded server"
    order = theirs.get("input_order") or {g: list(theirs["input"].get(g) or {}) for g in ("required", "optional")}
    for group in ("required", "optional"):
        assert list(ours["input"].get(group) or {}) == list(order.get(group) or []), (name, group)
        for input_name, spec in (ours["input"].get(group) or {}).items():
            real = theirs["input"][group][input_name]
            (our_kind, our_choices), (real_kind, real_choices) = kind(spec), kind(real)
            assert our_kind == real_kind, (name, input_name)
            if our_choices:  # a loader's choices are the user's files: left empty
                assert our_choices == real_choices, (name, input_name)
            for option in ("default", "min", "max", "step"):
                if len(spec) > 1 and option in spec[1]:
                    assert spec[1][option] == real[1].get(option), (name, input_name, option)
    assert (ours["output"], ours["output_name"]) == (theirs["output"], theirs["output_name"]), name
