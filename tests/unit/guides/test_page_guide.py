"""The 'page' guide: what the stylized keyframes show at each pixel, fixed in image space, learned leave-one-out."""
import numpy as np
import pytest
import torch

from patch_training.model.checkpoint import load_model, save_model
from patch_training.config import TrainConfig
from patch_training.errors import GuideError, KeyframeError
from patch_training.guides import GuideSpec, compute_guides, training_guides
from patch_training.guides.stream import stream_guides
from patch_training.guides.synthetic import rotating_clip
from patch_training.stylize.tiled import stylize
from patch_training.keyframes import make_keyframes
from patch_training.train.fit import fit_style
from patch_training.stylize.needs import model_guides

PAGE = GuideSpec(guides=("edges", "page"))


def luma(x):
    return x @ torch.tensor([0.299, 0.587, 0.114])


@pytest.fixture(scope="module")
def clip():
    frames, _ = rotating_clip(6, 40, 48, degrees=3.0)
    styles = torch.rand(3, 40, 48, 3, generator=torch.Generator().manual_seed(1))
    return frames, [0, 2, 5], styles


def test_the_page_is_the_same_on_every_frame_and_is_the_keyframes_luminance_statistics(clip):
    frames, keys, styles = clip
    page = compute_guides(frames, PAGE, keys, keyframes=styles)[..., 1:]
    assert all(torch.equal(page[t], page[0]) for t in range(6))
    y = luma(styles)
    loo = [torch.stack([y[o].mean(0), y[o].min(0).values, y[o].max(0).values], -1)
           for o in ([1, 2], [0, 2], [0, 1])]
    assert torch.allclose(page[0], sum(loo) / 3, atol=1e-6)


def test_each_keyframe_trains_on_the_page_the_other_keyframes_show(clip):
    frames, keys, styles = clip
    train = training_guides(frames, PAGE, keys, keyframes=styles)[..., 1:]
    y = luma(styles)
    for row, others in enumerate(([1, 2], [0, 2], [0, 1])):
        expected = torch.stack([y[others].mean(0), y[others].min(0).values, y[others].max(0).values], -1)
        assert torch.allclose(train[row], expected, atol=1e-6)


def test_streamed_page_guides_equal_the_whole_clip_ones(clip):
    frames, keys, styles = clip
    whole = compute_guides(frames, PAGE, keys, keyframes=styles)
    streamed = np.stack([g for _, _, g in stream_guides(iter(frames.numpy()), PAGE, keys, keyframes=styles,
                                                         frame_count=6)])
    assert np.array_equal(streamed, whole.numpy())


def test_the_page_needs_two_keyframes_and_their_images(clip):
    frames, _, styles = clip
    with pytest.raises(GuideError, match="'page' guide .* needs at least two keyframes"):
        compute_guides(frames, PAGE, [2], keyframes=styles[:1])
    with pytest.raises(KeyframeError, match="'warp' and 'page' guides are made from the stylized keyframes"):
        compute_guides(frames, PAGE, [0, 5])
    keyframes, _ = make_keyframes([2], styles[:1], frames=frames)
    with pytest.raises(KeyframeError, match="the 'page' guide learns each keyframe from the others.*Add a keyframe "
                                            "or drop the 'page' guide"):
        fit_style(frames, keyframes, TrainConfig(steps=1, seconds=0), PAGE)


def test_a_page_model_asks_for_its_keyframes_and_round_trips_with_identical_frames(clip, tmp_path):
    frames, keys, styles = clip
    keyframes, _ = make_keyframes(keys, styles, frames=frames)
    model = fit_style(frames, keyframes, TrainConfig(steps=2, seconds=0), PAGE)
    assert model.config.in_channels == 3 + 1 + 3
    with pytest.raises(GuideError, match="this model uses the 'page' guide; give the stylized keyframes"):
        model_guides(model, frames)
    loaded = load_model(save_model(model, tmp_path / "p.safetensors"))
    guides = model_guides(loaded, frames, styles)
    assert torch.equal(guides, compute_guides(frames, PAGE, keys, keyframes=styles))
    assert torch.equal(stylize(loaded, frames, guides, precision="fp32"),
                       stylize(model, frames, guides, precision="fp32"))
