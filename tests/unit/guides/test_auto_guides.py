"""guides 'auto': the 'page' guide for a texture fixed on the page, the default guides for one that follows the content."""
import numpy as np
import pytest
import torch

from patch_training.errors import GuideError
from patch_training.guides import DEFAULT_GUIDES
from patch_training.guides.auto import choose_guides, is_auto
from patch_training.guides.guide_set import choose_spec, make_guide_set
from patch_training.guides.synthetic import rotating_clip, textured_style, translating_clip
from patch_training.keyframes import make_keyframes

KEYS = [0, 5, 10]
MOTIONS = {  # clips of 11 frames, 96x96: the content moves while a page-fixed texture does not
    "translation": lambda: translating_clip(11, 96, 96, dx=1.5, dy=-0.8),
    "rotation": lambda: rotating_clip(11, 96, 96, degrees=2.0),
    "diagonal": lambda: translating_clip(11, 96, 96, dx=-1.0, dy=1.2, seed=3),
}


def clip_and_style(motion: str, on_page: bool):
    frames, motions = MOTIONS[motion]()
    return frames, textured_style(frames, motions, on_page)


@pytest.mark.parametrize("motion", sorted(MOTIONS))
def test_a_texture_fixed_on_the_page_gets_the_page_guide(motion):
    frames, styles = clip_and_style(motion, on_page=True)
    choice = choose_guides(frames[KEYS], styles[KEYS])
    assert choice.guides == DEFAULT_GUIDES + ("page",)
    assert "fixed on the page" in choice.reason
    assert choice.stats["static"] > choice.stats["moving"] + 0.15


@pytest.mark.parametrize("motion", sorted(MOTIONS))
def test_a_texture_that_follows_the_content_keeps_the_default_guides(motion):
    frames, styles = clip_and_style(motion, on_page=False)
    choice = choose_guides(frames[KEYS], styles[KEYS])
    assert choice.guides == DEFAULT_GUIDES
    assert "follows the content" in choice.reason
    assert choice.stats["moving"] > choice.stats["static"]


def test_a_style_made_of_the_content_alone_keeps_the_default_guides():
    frames, _ = MOTIONS["translation"]()
    styles = (frames * 4).round() / 4  # posterized: nothing beyond the content
    assert choose_guides(frames[KEYS], styles[KEYS]).guides == DEFAULT_GUIDES


def test_one_keyframe_falls_back_to_the_default_and_says_why():
    frames, styles = clip_and_style("translation", on_page=True)
    choice = choose_guides(frames[[4]], styles[[4]])
    assert choice.guides == DEFAULT_GUIDES
    assert "one keyframe" in choice.reason and choice.stats == {"pairs": 0}
    assert "one keyframe" in choice.describe()


def test_content_that_does_not_move_falls_back_to_the_default_and_says_why():
    frames, _ = translating_clip(3, 96, 96, dx=0.0, dy=0.0)
    styles = textured_style(frames, [np.eye(3)[:2]] * 3, on_page=True)
    choice = choose_guides(frames, styles)
    assert choice.guides == DEFAULT_GUIDES
    assert "barely moves" in choice.reason and choice.stats["moving_share"] < 0.02


def test_masked_keyframes_are_compared_inside_their_masks_only():
    frames, motions = MOTIONS["translation"]()
    page, moving = textured_style(frames, motions, True), textured_style(frames, motions, False, seed=11)
    left = torch.zeros(96, 96)
    left[:, :48] = 1
    styles = page * left[..., None] + moving * (1 - left[..., None])  # fixed on the left, following on the right
    on_left = choose_guides(frames[KEYS], styles[KEYS], left.expand(3, 96, 96))
    on_right = choose_guides(frames[KEYS], styles[KEYS], (1 - left).expand(3, 96, 96))
    assert on_left.guides == DEFAULT_GUIDES + ("page",)
    assert on_right.guides == DEFAULT_GUIDES


def test_the_choice_is_deterministic():
    frames, styles = clip_and_style("rotation", on_page=True)
    a, b = choose_guides(frames[KEYS], styles[KEYS]), choose_guides(frames[KEYS], styles[KEYS])
    assert (a.guides, a.reason, a.stats) == (b.guides, b.reason, b.stats)


def test_keyframes_of_another_size_than_their_frames_are_refused_by_name():
    frames, styles = clip_and_style("translation", on_page=True)
    with pytest.raises(GuideError, match=r"keyframes: expected one stylized image per keyframe frame.*received"):
        choose_guides(frames[KEYS], styles[KEYS][:, :50])


def test_auto_is_spelled_freely_and_names_still_work():
    assert is_auto("auto") and is_auto(" Auto ") and not is_auto("gauss, auto") and not is_auto(None)
    frames, styles = clip_and_style("translation", on_page=True)
    keyframes, _ = make_keyframes(KEYS, styles[KEYS], frames=frames)
    spec, choice = choose_spec("gauss, edges", frames, keyframes, seed=3)
    assert spec.guides == ("gauss", "edges") and spec.seed == 3 and choice is None
    spec, choice = choose_spec("auto", frames, keyframes, seed=3)
    assert spec.guides == DEFAULT_GUIDES + ("page",) and spec.seed == 3
    guide_set = make_guide_set(frames, spec, keyframes, choice=choice)
    assert guide_set.choice is choice and guide_set.guides.shape[-1] == spec.channels
