"""The training summary: typed, and written back exactly as it was read (known keys, unknown ones, their order)."""
import json

from patch_training.model.checkpoint import load_model, read_metadata, save_model
from patch_training.model.summary import TrainSummary
from support import SAMPLE


def test_a_summary_round_trips_to_the_json_it_was_read_from():
    shipped = read_metadata(SAMPLE / "sample_style.safetensors")["summary"]
    with_extra = {**shipped, "prior_rounds": 65, "from_a_newer_version": {"x": [1, 2]}}
    for data in (shipped, with_extra, {}, {"steps": 1, "masks": True}):
        summary = TrainSummary.from_dict(data)
        assert json.dumps(summary.to_dict()) == json.dumps(data)
    assert TrainSummary.from_dict(with_extra).extra == {"prior_rounds": 65, "from_a_newer_version": {"x": [1, 2]}}


def test_unknown_summary_keys_survive_a_save_and_load(tmp_path):
    model = load_model(SAMPLE / "sample_style.safetensors")
    model.summary.extra["made_by"] = "another tool"
    loaded = load_model(save_model(model, tmp_path / "m.safetensors"))
    assert loaded.summary == model.summary and loaded.summary.extra == {"made_by": "another tool"}
    assert loaded.summary.steps == 3000 and loaded.summary.keyframe_indices == [0, 14, 31]


def test_a_model_takes_its_summary_as_a_dict_or_typed():
    model = load_model(SAMPLE / "sample_style.safetensors")
    model.summary = {"steps": 5, "keyframe_indices": [0, 3]}
    assert isinstance(model.summary, TrainSummary) and model.summary.steps == 5 and model.summary.masks is None
