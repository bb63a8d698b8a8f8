import pytest
import torch

from patch_training.errors import GuideError
from patch_training.guides.guide_set import make_guide_set, training_inputs
from patch_training.stylize.needs import check_guides_match
from patch_training.guides import GuideSpec
from patch_training.guides.synthetic import translating_clip
from patch_training.keyframes import make_keyframes
from support import random_model


@pytest.fixture(scope="module")
def clip():
    frames, _ = translating_clip(6, 40, 48, 1.5, 0.5)
    keyframes, _ = make_keyframes([0, 5], frames[[0, 5]].flip(-1), frames=frames)
    return frames, keyframes


@pytest.mark.parametrize("names", [("gauss", "edges"), ("edges",), ("denoise", "warp")])
def test_a_guide_set_holds_every_frames_guides_and_the_keyframes_training_rows(clip, names):
    frames, keyframes = clip
    spec = GuideSpec(guides=names)
    guide_set = make_guide_set(frames, spec, keyframes)
    assert guide_set.guides.shape == (6, 40, 48, spec.channels)
    assert guide_set.training.shape == (2, 40, 48, spec.channels)
    same = torch.equal(guide_set.training, guide_set.guides[[0, 5]])
    assert same != spec.needs_keyframe_images  # only 'warp' is computed leave-one-out for training
    assert guide_set.preview().shape == (6, 40, 48, 3)


def test_training_inputs_refuse_guides_made_for_other_keyframes(clip):
    frames, keyframes = clip
    guide_set = make_guide_set(frames, GuideSpec(guides=("edges",)), keyframes)
    other, _ = make_keyframes([1], frames[[1]], frames=frames)
    assert training_inputs(None, other) == {}
    assert set(training_inputs(guide_set, keyframes)) == {"guides", "keyframe_guides", "guide_spec"}
    with pytest.raises(GuideError, match=r"computed for keyframes \[0, 5\], but the model is trained on keyframes \[1\]"):
        training_inputs(guide_set, other)


def test_stylizing_checks_the_guides_against_the_models_training(clip):
    frames, keyframes = clip
    spec = GuideSpec(guides=("edges",))
    guide_set = make_guide_set(frames, spec, keyframes)
    model = random_model(guides=1)
    model.guides, model.summary = spec.to_dict(), {"keyframe_indices": [0, 5]}
    check_guides_match(model, guide_set)
    with pytest.raises(GuideError, match="trained on the frames alone"):
        check_guides_match(random_model(), guide_set)
    model.guides = GuideSpec(guides=("edges",), edge_sigma=3.0).to_dict()
    with pytest.raises(GuideError, match="edge_sigma: trained 3.0, received"):
        check_guides_match(model, guide_set)
    model.guides, model.summary = spec.to_dict(), {"keyframe_indices": [0, 3]}
    with pytest.raises(GuideError, match=r"trained with keyframes \[0, 3\]"):
        check_guides_match(model, guide_set)


def test_an_empty_guide_list_is_refused(clip):
    frames, keyframes = clip
    with pytest.raises(GuideError, match="at least one guide"):
        make_guide_set(frames, GuideSpec(guides=()), keyframes)
