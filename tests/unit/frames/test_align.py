"""Registration of stylized keyframes to their frames (frames.align): laws on a real frame of the bundled sample,
stylized by a fixed filter (so the true alignment is known) and moved as image-edit models move keyframes."""
import math

import cv2
import numpy as np
import pytest
import torch

from patch_training import FrameSource, FramesError, KeyframeError, MaskError
from patch_training.frames.align import (IDENTITY_PX, align_keyframe, align_keyframes, make_aligned_keyframes)
from patch_training.keyframes import make_keyframes
from patch_training.train.loop import learned_where

SAMPLE = __import__("pathlib").Path(__file__).resolve().parents[3] / "example_workflows" / "assets" / "sample"


@pytest.fixture(scope="module")
def clip():
    return FrameSource(SAMPLE / "frames").read_all()


def toon(frame: torch.Tensor) -> torch.Tensor:
    """A stylization with the frame's geometry: edge-preserving smoothing, 4 grey levels per channel, channels
    swapped (the colours change, the structure stays where it was)."""
    x = cv2.bilateralFilter(frame.numpy(), 9, 0.2, 5)
    return torch.from_numpy(np.ascontiguousarray((np.round(x * 4) / 4)[..., [2, 0, 1]].astype(np.float32)))


def content_map(size, dx=0.0, dy=0.0, zoom=1.0, rotation=0.0, stretch=1.0) -> np.ndarray:
    """3x3 map frame px -> keyframe px of an edit that shifted the content by (dx, dy), zoomed it about the centre
    (zoom_x = zoom * sqrt(stretch), zoom_y = zoom / sqrt(stretch)) and turned it `rotation` degrees
    counter-clockwise on screen."""
    h, w = size
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    a = math.radians(-rotation)  # y points down: counter-clockwise on screen is a negative angle
    linear = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ np.diag(
        [zoom * math.sqrt(stretch), zoom / math.sqrt(stretch)])
    return np.vstack([np.hstack([linear, (c + [dx, dy] - linear @ c)[:, None]]), [0, 0, 1]])


def edited(image: torch.Tensor, frame_to_key: np.ndarray, size=None) -> torch.Tensor:
    """What an edit model returns: `image` (on its frame's grid) seen through frame_to_key."""
    h, w = image.shape[:2] if size is None else size
    inverse = np.linalg.inv(frame_to_key)[:2].astype(np.float32)
    return torch.from_numpy(cv2.warpAffine(image.numpy(), inverse, (w, h), flags=cv2.INTER_LINEAR |
                                           cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT))


def map_error(report, truth: np.ndarray, size) -> float:
    """Largest distance (frame px) between the found and the true map over the inner 80 % of the frame."""
    h, w = size
    found = np.vstack([np.array(report.matrix).reshape(2, 3), [0, 0, 1]])
    points = np.array([[x, y, 1] for x in np.linspace(0.1 * w, 0.9 * w, 5) for y in np.linspace(0.1 * h, 0.9 * h, 5)])
    return float(np.abs((points @ found.T - points @ truth.T)[:, :2]).max())


def test_an_aligned_keyframe_comes_back_unchanged(clip):
    for t in (0, 14, 31):
        stylized = toon(clip[t])
        result = align_keyframe(clip[t], stylized)
        assert result.image is stylized
        assert result.report.action == "unchanged" and result.report.moved_px <= IDENTITY_PX
        assert torch.equal(result.mask, torch.ones(clip.shape[1:3]))


def test_a_keyframe_off_by_a_fraction_of_a_pixel_comes_back_unchanged(clip):
    stylized = edited(toon(clip[5]), content_map(clip.shape[1:3], dx=0.2, dy=-0.15))
    result = align_keyframe(clip[5], stylized)
    assert result.image is stylized and result.report.action == "unchanged"


EDITS = {  # as image-edit models return keyframes (issue 22)
    "shift 8 px": dict(dx=8, dy=-5),
    "shift 8 px, zoom 3 %": dict(dx=8, dy=-5, zoom=1.03),
    "rotation 2 deg": dict(rotation=2.0),
    "stretch 5 %": dict(stretch=1.05, zoom=1.05),
    "shift 15 % (FLUX.2)": dict(dx=0.15 * 350, dy=0.05 * 350),
    "zoom 30 %": dict(zoom=1.3, dx=12),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_known_shift_zoom_rotation_or_stretch_is_recovered(clip, edit):
    size = clip.shape[1:3]
    truth = content_map(size, **EDITS[edit])
    stylized = toon(clip[10])
    result = align_keyframe(clip[10], edited(stylized, truth))
    assert result.report.action == "aligned"
    assert map_error(result.report, truth, size) < 0.6
    covered = result.mask.numpy() > 0.5
    assert np.abs(result.image.numpy() - stylized.numpy())[covered].mean() < 0.02
    if "rotation" in EDITS[edit]:
        assert result.report.rotation_deg == pytest.approx(2.0, abs=0.1)  # counter-clockwise is positive


def test_a_centre_crop_returned_at_another_size_and_aspect_is_recovered(clip):
    # A Kontext-like crop: a 350x200 frame's centre square (x 75..275), returned as a 300x300 image.
    frames = clip[:, 75:275 + 0, :, :][:, :200].contiguous()  # 350 wide, 200 high
    frame = frames[3]
    stylized = toon(frame)
    square = cv2.resize(stylized.numpy()[:, 75:275], (300, 300), interpolation=cv2.INTER_LINEAR)
    result = align_keyframe(frame, torch.from_numpy(square))
    # frame x -> crop x - 75 -> 300 px -> resized to 350 (pixel centres): u = 1.75 (x - 75 + 0.5) - 0.5
    truth = np.array([[1.75, 0, 1.75 * (0.5 - 75) - 0.5], [0, 1, 0], [0, 0, 1]])
    assert map_error(result.report, truth, frame.shape[:2]) < 1.0
    assert result.report.stretch == pytest.approx(1.75, rel=0.01)
    assert 0.5 < result.report.coverage < 0.62  # only the centre square is covered
    covered = result.mask.numpy() > 0.5
    assert covered[:, 100:250].all() and not covered[:, :60].any() and not covered[:, 290:].any()


def test_the_border_left_uncovered_is_zero_in_the_mask_and_not_learned(clip):
    truth = content_map(clip.shape[1:3], dx=20, dy=0)  # the keyframe's content moved 20 px right
    moved = edited(toon(clip[0]), truth)
    keyframes, notes = make_aligned_keyframes([0], moved[None], None, clip)
    assert keyframes.coverage is not None and keyframes.masks is None
    coverage = keyframes.coverage[0]
    assert coverage[:, -15:].max() == 0 and coverage[:, :300].min() == 1  # the right edge had no content
    assert torch.equal(learned_where(keyframes), keyframes.coverage)
    assert keyframes.alignment[0]["action"] == "aligned" and "aligned" in notes[0] and "uncovered" in notes[0]


def test_a_given_mask_is_moved_with_its_keyframe_and_combined_with_the_coverage(clip):
    truth = content_map(clip.shape[1:3], dx=-12, dy=6)
    stylized = toon(clip[0])
    mask = torch.zeros(clip.shape[1:3])
    mask[100:250, 100:250] = 1  # drawn on the frame's grid, then moved by the edit like the image
    moved, moved_mask = edited(stylized, truth), edited(mask[..., None].expand(-1, -1, 3).contiguous(), truth)[..., 0]
    keyframes, _ = make_aligned_keyframes([0], moved[None], moved_mask[None], clip)
    assert (keyframes.masks[0] - mask).abs().mean() < 0.01  # back on the frame's grid
    learned = learned_where(keyframes)[0]
    assert torch.equal(learned, keyframes.masks[0] * keyframes.coverage[0])


def test_a_keyframe_that_shows_other_content_is_refused_by_name(clip):
    other = toon(torch.flip(clip[20], dims=[0, 1]).contiguous())  # another picture with the same colours
    with pytest.raises(KeyframeError) as refused:
        align_keyframe(clip[0], other, name="keyframe at frame 0")
    message = str(refused.value)
    assert message.startswith("keyframe at frame 0:") and "align to off" in message and "frame number" in message
    noise = torch.rand(350, 350, 3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(KeyframeError):
        align_keyframe(clip[0], noise)


def test_registration_is_deterministic(clip):
    stylized = edited(toon(clip[7]), content_map(clip.shape[1:3], dx=6.3, dy=2.1, zoom=1.04, rotation=0.7))
    first, second = align_keyframe(clip[7], stylized), align_keyframe(clip[7], stylized)
    assert first.report == second.report and torch.equal(first.image, second.image)


def test_align_off_gives_what_make_keyframes_gives(clip):
    stylized = torch.stack([toon(clip[0]), toon(clip[31])])
    plain, _ = make_keyframes([31, 0], stylized, frames=clip)
    off, notes = make_aligned_keyframes([31, 0], stylized, None, clip, align="off")
    assert torch.equal(off.images, plain.images) and off.indices == plain.indices
    assert off.alignment is None and off.coverage is None and notes == []


def test_aligned_keyframes_keep_their_order_with_their_reports(clip):
    shifted = edited(toon(clip[31]), content_map(clip.shape[1:3], dx=9))
    keyframes, notes = make_aligned_keyframes([31, 0], torch.stack([shifted, toon(clip[0])]), None, clip)
    assert keyframes.indices == (0, 31)
    assert [a["action"] for a in keyframes.alignment] == ["unchanged", "aligned"]
    assert keyframes.alignment[1]["shift_px"][0] == pytest.approx(9, abs=0.5)
    assert notes[0].startswith("keyframe at frame 31: aligned")


def test_bad_inputs_are_named(clip):
    with pytest.raises(MaskError, match="keyframe mask"):
        align_keyframe(clip[0], toon(clip[0]), mask=torch.ones(100, 300))
    with pytest.raises(Exception, match="align: expected one of"):
        align_keyframes(clip[:1], toon(clip[0])[None], align="maybe")
    with pytest.raises(KeyframeError, match="frame numbers from 0 to 31"):
        make_aligned_keyframes([40], toon(clip[0])[None], None, clip)
    with pytest.raises(FramesError, match=r"keyframe 3 \(stylized\): expected float values in 0..1, received dtype"):
        align_keyframe(clip[0], (toon(clip[0]) * 255).to(torch.uint8), name="keyframe 3")
    with pytest.raises(FramesError, match=r"frame: expected an image \[H, W, 3\]"):
        align_keyframe(clip[0, :, :, 0], toon(clip[0]))


def test_a_local_refinement_is_kept_only_where_it_brings_the_keyframe_closer(clip, monkeypatch):
    import patch_training.frames.registration as registration

    stylized = toon(clip[10])
    h, w = stylized.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)  # a smooth bend of 2 px, no affine map undoes it
    bent = cv2.remap(stylized.numpy(), xs + 2 * np.sin(2 * np.pi * ys / h), ys + 2 * np.cos(2 * np.pi * xs / w),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    local = align_keyframe(clip[10], torch.from_numpy(bent))
    monkeypatch.setattr(registration, "LOCAL_MIN_PX", float("inf"))
    affine = align_keyframe(clip[10], torch.from_numpy(bent))
    assert local.report.local and not affine.report.local
    inner = (slice(20, -20), slice(20, -20))
    error = lambda a: float(np.abs(a.image.numpy() - stylized.numpy())[inner].mean())  # noqa: E731
    assert error(local) < 0.9 * error(affine)
    assert local.report.residual_px < affine.report.residual_px
    # an edit an affine map undoes leaves no residual to refine
    assert not align_keyframe(clip[10], edited(stylized, content_map((h, w), dx=5, zoom=1.02))).report.local


def test_the_model_summary_records_each_keyframes_report_and_a_checkpoint_keeps_it(clip, tmp_path):
    from patch_training import TrainConfig, load_model, save_model, train_style_model

    frames = clip[:4]
    moved = edited(toon(frames[3]), content_map(frames.shape[1:3], dx=-7, dy=4, zoom=1.02))
    keyframes, _ = make_aligned_keyframes([0, 3], torch.stack([toon(frames[0]), moved]), None, frames)
    model = train_style_model(frames, keyframes, TrainConfig(steps=2, seconds=0, batch_size=2, patch_size=32))
    assert model.summary.alignment == [dict(a) for a in keyframes.alignment]
    assert [a["action"] for a in model.summary.alignment] == ["unchanged", "aligned"]
    save_model(model, tmp_path / "m.safetensors")
    assert load_model(tmp_path / "m.safetensors").summary.alignment == model.summary.alignment


def test_keyframe_files_of_another_size_are_registered_to_their_frames(clip, tmp_path):
    from PIL import Image

    from patch_training.pipeline.train_files import read_keyframes

    (tmp_path / "frames").mkdir()
    for t in range(3):
        Image.fromarray((clip[t].numpy() * 255).round().astype(np.uint8)).save(tmp_path / "frames" / f"{t:05d}.png")
    (tmp_path / "keys").mkdir()
    crop = toon(clip[2]).numpy()[20:330, 10:340]  # a crop, returned at 512x480
    Image.fromarray((cv2.resize(crop, (512, 480)) * 255).round().astype(np.uint8)).save(tmp_path / "keys" / "00002.png")
    source = FrameSource(tmp_path / "frames")
    keyframes, notes = read_keyframes(source, tmp_path / "keys", None, align="auto")
    assert keyframes.indices == (2,) and keyframes.images.shape == (1, 350, 350, 3)
    assert notes[0].startswith("--keyframes 00002: aligned") and keyframes.alignment[0]["zoom"] > 1.05
    with pytest.raises(KeyframeError, match="00002.png is 512x480, the frames are 350x350"):
        read_keyframes(source, tmp_path / "keys", None, align="off")


def test_a_checkpoint_whose_alignment_record_is_damaged_is_refused(clip, tmp_path):
    from patch_training import CheckpointError, TrainConfig, load_model, save_model, train_style_model

    keyframes, _ = make_aligned_keyframes([0], toon(clip[0])[None], None, clip[:2])
    model = train_style_model(clip[:2], keyframes, TrainConfig(steps=1, seconds=0, batch_size=2, patch_size=32))
    model.summary.alignment = ["aligned"]
    path = save_model(model, tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="summary 'alignment' should be a list of objects"):
        load_model(path)


def test_a_flat_keyframe_or_frame_is_kept_as_is():
    flat = torch.full((64, 96, 3), 0.6)
    result = align_keyframe(torch.full((64, 96, 3), 0.2), flat)
    assert result.image is flat and result.report.action == "flat" and "no edges" in result.report.describe()
