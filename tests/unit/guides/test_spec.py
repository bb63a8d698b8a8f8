"""GuideSpec: the guide layout shared by training, inference, the checkpoint and the command line."""
import json

import pytest

from patch_training.errors import GuideError
from patch_training.guides import GUIDE_CHANNELS, GuideSpec, parse_guides


def test_spec_dict_round_trip_is_exact_through_json():
    spec = GuideSpec(guides=("warp", "gauss", "edges"), seed=7, gauss_blobs=12, gauss_radius=0.1,
                     gauss_chain=False, flow_preset="fast", flow_scale=1, detect_cuts=False,
                     denoise_radius=3, denoise_sigma=0.2, edge_sigma=0.0)
    again = GuideSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.guides == ("warp", "gauss", "edges")


def test_spec_from_dict_names_unknown_keys():
    with pytest.raises(GuideError, match=r"unknown keys \['blur'\]"):
        GuideSpec.from_dict({**GuideSpec().to_dict(), "blur": 3})


def test_spec_from_dict_fills_missing_keys_with_defaults():
    assert GuideSpec.from_dict({"guides": ["edges"]}) == GuideSpec(guides=("edges",))


def test_channels_and_layout_follow_the_guide_order():
    spec = GuideSpec(guides=("edges", "gauss", "denoise"))
    assert spec.channels == 1 + 3 + 3
    assert spec.layout == (("edges", 0, 1), ("gauss", 1, 4), ("denoise", 4, 7))
    assert GuideSpec(guides=()).channels == 0


def test_parse_guides_drops_rgb_and_keeps_order():
    assert parse_guides("rgb,gauss,edges,denoise") == ("gauss", "edges", "denoise")
    assert parse_guides(" Edges , rgb, WARP ") == ("edges", "warp")
    assert parse_guides("rgb") == () and parse_guides("") == () and parse_guides("none") == ()
    assert GuideSpec(guides=parse_guides("rgb,gauss")).describe() == "rgb,gauss"


def test_every_guide_name_parses():
    assert parse_guides(",".join(GUIDE_CHANNELS)) == tuple(GUIDE_CHANNELS)


@pytest.mark.parametrize("text, word", [("rgb,gaus", "gaus"), ("edges,edges", "once"), ("flow", "flow")])
def test_parse_guides_refuses_unknown_or_repeated_names(text, word):
    with pytest.raises(GuideError, match=word):
        parse_guides(text)


@pytest.mark.parametrize("field, value", [("gauss_blobs", 0), ("gauss_radius", -1.0), ("flow_preset", "slow"),
                                          ("denoise_radius", 2.5), ("seed", -1), ("guides", ("gauss", "x"))])
def test_spec_refuses_out_of_range_settings_by_name(field, value):
    with pytest.raises(GuideError, match=field if field != "guides" else "unknown"):
        GuideSpec(**{field: value})
