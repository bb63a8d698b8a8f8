"""Keyframe sheets: the layout law (recoverable from count, size and max_side alone), make-then-split round trips
on real frames, sheets that an image model returned at another size, and refusals of sheets that do not fit."""
import math
import types

import pytest
import torch
import torch.nn.functional as F

from patch_training.errors import ConfigError, FramesError, KeyframeError
from patch_training.frames.sheets import (GUTTER, GUTTER_GREY, MAX_STRETCH, TILE_STEP, make_sheet, sheet_layout,
                                          split_sheet)
from patch_training.frames import sheets
from patch_training.frames.sources import FrameSource
from support import SAMPLE

SIZES = [(350, 350), (1080, 1920), (540, 960), (960, 540), (480, 640), (402, 401), (97, 613)]
COUNTS = [1, 2, 3, 4, 5, 7, 9, 12]


@pytest.fixture(scope="module")
def sample():
    """The bundled sample clip (32 real frames, 350x350) and its hand-stylized keyframes 0, 14, 31."""
    return FrameSource(SAMPLE / "frames").read_all(), FrameSource(SAMPLE / "keyframes").read_all()


def resized(images, height, width):
    x = F.interpolate(images.permute(0, 3, 1, 2), size=(height, width), mode="bicubic", align_corners=False,
                      antialias=True)
    return x.permute(0, 2, 3, 1).clamp(0, 1).contiguous()


def psnr(a, b):
    return 10 * math.log10(1 / float(((a - b) ** 2).mean()))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("max_side", [512, 1024, 1536])
def test_every_layout_fits_max_side_with_tiles_in_multiples_of_64_near_the_frames_aspect(size, max_side):
    for count in COUNTS:
        try:
            layout = sheet_layout(count, size, max_side)
        except ConfigError:  # 64 px steps leave few tiles near 16:9 or 4:3 on a small sheet
            assert max_side == 512 and count >= 3, (size, count)
            continue
        assert layout.rows * layout.cols >= count > (layout.rows - 1) * layout.cols  # no empty row
        assert layout.tile_height % TILE_STEP == 0 and layout.tile_width % TILE_STEP == 0
        assert layout.height <= max_side and layout.width <= max_side
        stretch = layout.tile_width / layout.tile_height / (size[1] / size[0])
        assert 1 / (1 + MAX_STRETCH) <= stretch <= 1 + MAX_STRETCH
        boxes = [layout.box(k) for k in range(count)]
        for k, (top, left, bottom, right) in enumerate(boxes):  # tiles inside the sheet, a gutter apart
            assert 0 <= top < bottom <= layout.height and 0 <= left < right <= layout.width
            for top2, left2, bottom2, right2 in boxes[k + 1:]:
                apart = max(top2 - bottom, top - bottom2, left2 - right, left - right2)
                assert apart >= GUTTER


@pytest.mark.parametrize("size", SIZES)
def test_more_keyframes_never_get_bigger_tiles_and_a_bigger_sheet_never_smaller_ones(size):
    def scale(count, max_side):
        layout = sheet_layout(count, size, max_side)
        return min(layout.tile_width / size[1], layout.tile_height / size[0])

    for count in COUNTS[:-1]:
        assert scale(count + 1, 1024) <= scale(count, 1024)
        assert scale(count, 1536) >= scale(count, 1024)


def test_the_grid_keeps_the_most_resolution_per_keyframe():
    # 16:9 frames, three of them, a 1024 px sheet: stacked in a column each gets 576x320 (a row would give
    # 320x192, a 2x2 grid 448x256); four square frames share a 2x2 grid of 448 px.
    three = sheet_layout(3, (1080, 1920), 1024)
    assert (three.rows, three.cols, three.tile_width, three.tile_height) == (3, 1, 576, 320)
    four = sheet_layout(4, (350, 350), 1024)
    assert (four.rows, four.cols, four.tile_width, four.tile_height) == (2, 2, 448, 448)
    one = sheet_layout(1, (350, 350), 1024)
    assert (one.width, one.height) == (1024, 1024)  # a lone keyframe fills the sheet


def test_the_layout_is_recovered_from_count_size_and_max_side_alone(sample):
    frames, _ = sample
    for count in (2, 3, 5):
        sheet = make_sheet(frames[:count], 768)
        layout = sheet_layout(count, (350, 350), 768)
        assert sheet.shape == (1, layout.height, layout.width, 3)
        # Nothing but those three numbers is needed to cut it back: the tiles land where make_sheet put them.
        tiles, notes = split_sheet(sheet.clone(), (350, 350), count, 768)
        assert tiles.shape == (count, 350, 350, 3) and notes == []
        for k in range(count):
            top, left, bottom, right = layout.box(k)
            assert torch.equal(sheet[0, top:bottom, left:right],
                               resized(frames[k:k + 1], layout.tile_height, layout.tile_width)[0])


def test_the_gutter_and_empty_cells_are_grey(sample):
    frames, _ = sample
    sheet = make_sheet(frames[:3], 1024)  # 2x2 grid: the fourth cell is empty
    layout = sheet_layout(3, (350, 350), 1024)
    mask = torch.ones(layout.height, layout.width, dtype=torch.bool)
    for k in range(3):
        top, left, bottom, right = layout.box(k)
        mask[top:bottom, left:right] = False
    assert mask.sum() > 0 and torch.all(sheet[0][mask] == GUTTER_GREY)


@pytest.mark.parametrize("count", [1, 3, 4])
def test_make_then_split_without_an_edit_gives_the_frames_back_within_resampling_error(sample, count):
    frames, keys = sample
    chosen = torch.cat([frames[:count - 1], keys[-1:]])  # real frames and a real stylized keyframe
    tiles, _ = split_sheet(make_sheet(chosen), (350, 350), count)
    layout = sheet_layout(count, (350, 350))
    # The same two resamplings (frame to tile and back) done directly, without a sheet.
    expected = resized(resized(chosen, layout.tile_height, layout.tile_width), 350, 350)
    assert torch.allclose(tiles, expected, atol=1e-5)
    assert psnr(tiles, chosen) > 30


def test_a_downscaled_sheet_comes_back_at_the_frames_size_with_the_sheets_resolution(sample):
    frames, _ = sample
    big = torch.cat([resized(frames[:2], 1080, 1920), resized(frames[2:3], 1080, 1920)])
    tiles, _ = split_sheet(make_sheet(big, 1024), (1080, 1920), 3, 1024)
    assert tiles.shape == (3, 1080, 1920, 3)
    assert psnr(tiles, big) > 30  # the sample is soft: 576x320 tiles keep most of it


@pytest.mark.parametrize("factor", [0.9, 1.0 / 0.9, 0.5])
def test_a_sheet_the_model_returned_scaled_still_splits_at_the_right_places(sample, factor):
    frames, _ = sample
    sheet = make_sheet(frames[:4], 1024)
    height, width = sheet.shape[1:3]
    returned = resized(sheet, round(height * factor), round(width * factor))
    tiles, notes = split_sheet(returned, (350, 350), 4, 1024)
    direct, _ = split_sheet(sheet, (350, 350), 4, 1024)
    assert notes and "resized from" in notes[0]
    assert psnr(tiles, direct) > (26 if factor == 0.5 else 32)
    assert psnr(tiles, frames[:4]) > (24 if factor == 0.5 else 28)
    # A tile cut one gutter off would show the grey gutter and another frame: far below these numbers.
    shifted = torch.roll(direct, GUTTER, dims=2)
    assert psnr(shifted, frames[:4]) < 20


def test_a_sheet_resized_to_other_multiples_of_64_and_a_little_stretched_still_splits(sample):
    frames, _ = sample
    sheet = make_sheet(frames[:3], 1024)  # 928x928
    returned = resized(sheet, 1024, 960)   # as a model that snaps to its own sizes: 960 wide, 1024 high
    tiles, _ = split_sheet(returned, (350, 350), 3, 1024)
    assert psnr(tiles, frames[:3]) > 28


def test_a_sheet_of_another_aspect_is_refused_naming_the_layout(sample):
    frames, _ = sample
    sheet = make_sheet(resized(frames[:3], 1080, 1920), 1024)  # 576x1024: a column of three
    square = resized(sheet, 1024, 1024)  # what a model that returns square images gives back
    with pytest.raises(KeyframeError, match=r"sheet: expected the sheet of 3 keyframes in 3 x 1 tiles of 576x320, "
                                            r"sheet 576x1024 .*received 1024x1024"):
        split_sheet(square, (1080, 1920), 3, 1024)
    with pytest.raises(KeyframeError, match="another count"):  # made for four, split as two
        split_sheet(make_sheet(frames[:4]), (350, 350), 2)


def test_bad_inputs_are_named():
    frames = torch.rand(2, 64, 64, 3)
    with pytest.raises(FramesError, match="sheet: expected one image .* a batch of 2"):
        split_sheet(torch.rand(2, 256, 256, 3), (64, 64), 2)
    with pytest.raises(FramesError, match=r"sheet: expected an image batch of shape \[T, H, W, 3\]"):
        split_sheet(torch.rand(256, 256, 3), (64, 64), 2)
    with pytest.raises(FramesError, match="frames: expected the sheet's 2 frames of 64x64, received 1"):
        split_sheet(make_sheet(frames), (64, 64), 2, frames=frames[:1])
    with pytest.raises(ConfigError, match="max_side: 128 px is too small for 12 keyframes of 64x64"):
        make_sheet(torch.rand(12, 64, 64, 3), 128)
    with pytest.raises(ConfigError, match="max_side: expected a whole number of 64 pixels or more, received 0"):
        make_sheet(frames, 0)
    with pytest.raises(ConfigError, match="count: expected a whole number of 1 keyframes or more, received 0"):
        sheet_layout(0, (64, 64))


def test_every_split_tile_goes_through_keyframe_registration_with_its_own_frame(sample, monkeypatch):
    # frames.align (keyframe registration: align_keyframe(frame, stylized, name=...) -> .image, .report) is reached
    # through one function; here a stand-in that records its calls and returns the frame itself, so the result
    # shows which frame each tile met.
    frames, _ = sample
    calls = []

    def align_keyframe(frame, stylized, name):
        calls.append((frame.shape, stylized.shape, name))
        report = types.SimpleNamespace(describe=lambda n: f"{n}: aligned")
        return types.SimpleNamespace(image=frame.clone(), report=report)

    monkeypatch.setattr(sheets, "align_keyframe", align_keyframe)
    chosen = frames[[3, 9, 20]]
    tiles, notes = split_sheet(make_sheet(chosen), (350, 350), 3, frames=chosen, indices=[3, 9, 20])
    names = [f"keyframe {i} (sheet tile {k})" for k, i in ((1, 3), (2, 9), (3, 20))]
    assert calls == [((350, 350, 3), (350, 350, 3), name) for name in names]
    assert torch.equal(tiles, chosen)
    assert notes == [f"{name}: aligned" for name in names]

    def refuse(frame, stylized, name):
        raise KeyframeError(f"{name}: the stylized image does not show its frame's content")

    monkeypatch.setattr(sheets, "align_keyframe", refuse)
    with pytest.raises(KeyframeError, match=r"keyframe 3 \(sheet tile 1\): the stylized image does not show"):
        split_sheet(make_sheet(chosen), (350, 350), 3, frames=chosen, indices=[3, 9, 20])


def test_a_sheet_the_model_shifted_splits_into_keyframes_registered_to_their_frames(sample):
    # the real registration (frames.align): a sheet drifted by 6 px right and 4 px down, as image-edit models
    # return them, comes back on its frames' grid; without the frames (no registration) the drift stays
    frames, _ = sample
    chosen = frames[[3, 9, 20]]
    sheet = make_sheet(chosen)
    drifted = torch.roll(sheet, shifts=(4, 6), dims=(1, 2))
    registered, notes = split_sheet(drifted, (350, 350), 3, frames=chosen, indices=[3, 9, 20])
    as_cut, _ = split_sheet(drifted, (350, 350), 3)
    inner = (slice(None), slice(40, -40), slice(40, -40))  # away from the border the drift uncovers
    error = lambda tiles: (tiles - chosen)[inner].abs().mean().item()  # noqa: E731
    assert error(registered) < 0.5 * error(as_cut)
    assert len(notes) == 3 and all("keyframe" in n for n in notes)
