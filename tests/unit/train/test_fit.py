"""Training and stylization with guides, end to end, on synthetic clips and on the bundled sample."""
import pytest
import torch

from patch_training.model.checkpoint import load_model, save_model
from patch_training.config import TrainConfig
from patch_training.errors import FramesError, GuideError
from patch_training.frames.sources import FrameSource
from patch_training.guides import GuideSpec, compute_guides
from patch_training.stylize.tiled import stylize
from patch_training.keyframes import make_keyframes
from patch_training.metrics import ColorLUT, psnr, ssim
from patch_training.train.fit import fit_style
from patch_training.stylize.needs import guides_need, model_guides, stylize_needs

from support import SAMPLE, moving_clip


def test_checkpoint_round_trip_rebuilds_identical_guides_and_frames(textured, tmp_path):
    frames, keyframes = moving_clip(textured)
    spec = GuideSpec(guides=("gauss", "edges"), seed=7)
    model = fit_style(frames, keyframes, TrainConfig(steps=3, seconds=0), spec)
    assert model.config.in_channels == 3 + 4 and model.guides == spec.to_dict()
    loaded = load_model(save_model(model, tmp_path / "g.safetensors"))
    rebuilt = model_guides(loaded, frames)
    assert torch.equal(rebuilt, compute_guides(frames, spec, [0, 4]))
    assert torch.equal(stylize(loaded, frames, rebuilt, precision="fp32"),
                       stylize(model, frames, model_guides(model, frames), precision="fp32"))


def test_rebuilding_a_models_guides_reports_progress_and_can_be_cancelled(textured):
    # Stylize Frames in ComfyUI rebuilds a guided model's guides with a progress bar and honours Cancel.
    frames, keyframes = moving_clip(textured)
    model = fit_style(frames, keyframes, TrainConfig(steps=1, seconds=0), GuideSpec(guides=("gauss",)))
    seen = []
    model_guides(model, frames, on_progress=seen.append)
    for stage in ("flow", "guides"):  # the flow first, then the guides, each reaching its total
        reports = [p for p in seen if p.stage == stage]
        assert reports and reports[-1].done == reports[-1].total > 0
    assert seen[0].stage == "flow" and seen[-1].stage == "guides"

    class Cancelled(Exception):
        pass

    def cancel(progress):
        raise Cancelled

    with pytest.raises(Cancelled):
        model_guides(model, frames, on_progress=cancel)


def test_rgb_only_models_need_no_guides_and_take_any_size(textured):
    frames, keyframes = moving_clip(textured)
    model = fit_style(frames, keyframes, TrainConfig(steps=2, seconds=0), None)
    assert model_guides(model, textured(2, 30, 30)) is None and model.guide_channels == 0


def test_guided_models_say_what_they_need_to_rebuild_their_guides(textured):
    frames, keyframes = moving_clip(textured)
    warp = fit_style(frames, keyframes, TrainConfig(steps=1, seconds=0), GuideSpec(guides=("warp",)))
    with pytest.raises(GuideError, match="'warp' guide"):
        model_guides(warp, frames)
    assert model_guides(warp, frames, keyframes.images).shape == (5, 48, 64, 3)
    masked, _ = make_keyframes([0, 4], keyframes.images, torch.ones(2, 48, 64), frames=frames)
    gauss = fit_style(frames, masked, TrainConfig(steps=1, seconds=0), GuideSpec(guides=("gauss",)))
    assert guides_need(gauss) == () and guides_need(warp) == ("keyframes",)  # masks are stored in the model
    assert stylize_needs(gauss).startswith("frames of 64x48 only")
    assert "stylized keyframes" in stylize_needs(warp)
    with pytest.raises(FramesError, match="built for 64x48 frames"):
        model_guides(gauss, textured(5, 40, 40))


def test_the_sample_style_is_learned_beyond_colorization():
    """On real footage: a short training already beats the fitted colour lookup table on the frames that are
    not keyframes (SSIM: the texture measure), and the stylized clip is far from the input."""
    frames = FrameSource(SAMPLE / "frames").read_all()
    truth = FrameSource(SAMPLE / "truth").read_all()
    styled = FrameSource(SAMPLE / "keyframes")
    keys = [int(n.split(".")[0]) for n in styled.names]
    keyframes, _ = make_keyframes(keys, styled.read_all(), frames=frames)
    others = [i for i in range(len(frames)) if i not in keys]
    model = fit_style(frames, keyframes, TrainConfig(steps=400, seconds=0, threads=1), GuideSpec())
    result = stylize(model, frames, model_guides(model, frames))
    lut = ColorLUT(frames[keys], keyframes.images)(frames[others])
    assert ssim(result[others], truth[others]) > ssim(lut, truth[others]) + 0.05
    assert psnr(result[others], truth[others]) > psnr(frames[others], truth[others]) + 2
