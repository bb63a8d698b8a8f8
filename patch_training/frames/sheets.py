"""Keyframe sheets: keyframes tiled into one image, stylized in one pass by an image model, then cut back.

Keyframes stylized one at a time by a diffusion model disagree with each other (colours, strokes, lighting), and
the clip flickers where one keyframe hands over to the next. Stylized together on one sheet they share one pass.

The layout is a pure function of the keyframe count, the frames' size, `max_side` and `gutter`
(`sheet_layout`): an edited sheet carries no metadata, so `split_sheet` recomputes it. Tiles are cut by
proportion of the sheet's width and height, so a sheet that the model returned at another size (another multiple
of 64, 0.9 times the size, a slightly different aspect) still splits at the right places.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError, FramesError, KeyframeError, check_image_batch
from .align import align_keyframe

DEFAULT_MAX_SIDE = 1024  # px: today's image-edit models (Flux Kontext, Qwen-Image-Edit) work at about 1 megapixel
TILE_STEP = 64           # tile sides are multiples of this: image models' latents (8 px) and patches (16 px) fit
GUTTER = 32              # px of grey between tiles, so that a stroke does not run from one keyframe into the next
GUTTER_GREY = 0.5        # the gutter's (and an empty cell's) value: neutral, no edge for the model to pick up
MAX_STRETCH = 0.10       # a tile's aspect may differ this much from the frames' (the frame is stretched to fill it,
#                          and split_sheet stretches it back): tiles snap to multiples of 64, frames do not
ASPECT_TOLERANCE = 0.10  # a returned sheet's aspect may differ this much from the layout's before it is refused:
#                          FluxKontextImageScale moves it by up to about 8 % (its nearest preferred resolution)


@dataclass(frozen=True)
class SheetLayout:
    """Where each keyframe sits on a sheet: `rows` x `cols` tiles of tile_height x tile_width pixels, `gutter`
    pixels apart, filled row by row; no border outside the tiles."""

    count: int
    rows: int
    cols: int
    tile_height: int
    tile_width: int
    gutter: int

    @property
    def height(self) -> int:
        return self.rows * self.tile_height + (self.rows - 1) * self.gutter

    @property
    def width(self) -> int:
        return self.cols * self.tile_width + (self.cols - 1) * self.gutter

    def box(self, k: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of keyframe k's tile, in the layout's pixels."""
        row, col = divmod(k, self.cols)
        top, left = row * (self.tile_height + self.gutter), col * (self.tile_width + self.gutter)
        return top, left, top + self.tile_height, left + self.tile_width

    def describe(self) -> str:
        return (f"{self.count} keyframe{'s' if self.count > 1 else ''} in {self.rows} x {self.cols} tiles of "
                f"{self.tile_width}x{self.tile_height}, sheet {self.width}x{self.height}")

    def as_dict(self) -> dict:
        return {"count": self.count, "rows": self.rows, "cols": self.cols, "tile": [self.tile_width, self.tile_height],
                "gutter": self.gutter, "sheet": [self.width, self.height]}


def sheet_layout(count: int, frame_size: tuple[int, int], max_side: int = DEFAULT_MAX_SIDE,
                 gutter: int = GUTTER) -> SheetLayout:
    """The layout of `count` keyframes of frame_size (height, width) on a sheet at most max_side on each side.

    Chooses the grid and tile size that keep the most of each keyframe's resolution: the largest scale at which a
    frame fits its tile, among tiles whose sides are multiples of 64 and whose aspect is within 10 % of the
    frames'. Ties: fewer empty cells, less stretch, a smaller sheet, fewer rows. Raises ConfigError when no tile
    of at least 64 px fits (max_side too small for so many keyframes).
    """
    _check_int("count", count, 1, "keyframes")
    _check_int("max_side", max_side, TILE_STEP, "pixels")
    _check_int("gutter", gutter, 0, "pixels")
    height, width = (int(s) for s in frame_size)
    if height < 1 or width < 1:
        raise FramesError(f"frames: expected frames of at least 1x1 pixels, received {width}x{height}.")
    aspect, limit = width / height, math.log1p(MAX_STRETCH)
    best, best_key = None, None
    for cols in range(1, count + 1):
        rows = -(-count // cols)  # filled row by row: no row or column stays empty
        max_h = (max_side - (rows - 1) * gutter) // rows // TILE_STEP * TILE_STEP
        max_w = (max_side - (cols - 1) * gutter) // cols // TILE_STEP * TILE_STEP
        for tile_h in range(TILE_STEP, max_h + 1, TILE_STEP):
            for tile_w in range(TILE_STEP, max_w + 1, TILE_STEP):
                stretch = abs(math.log(tile_w / tile_h / aspect))
                if stretch > limit:
                    continue
                layout = SheetLayout(count, rows, cols, tile_h, tile_w, gutter)
                key = (min(tile_w / width, tile_h / height), -(rows * cols - count), -stretch,
                       -layout.height * layout.width, -rows)
                if best_key is None or key > best_key:
                    best, best_key = layout, key
    if best is None:
        raise ConfigError(f"max_side: {max_side} px is too small for {count} keyframe{'s' if count > 1 else ''} of "
                          f"{width}x{height}: each needs a tile of at least {TILE_STEP} px a side (multiples of "
                          f"{TILE_STEP}, {gutter} px apart) within {MAX_STRETCH:.0%} of the frames' aspect. Raise "
                          f"max_side, or put fewer keyframes on one sheet.")
    return best


def make_sheet(frames: torch.Tensor, max_side: int = DEFAULT_MAX_SIDE, gutter: int = GUTTER) -> torch.Tensor:
    """The chosen frames tiled into one image, in their order, row by row (sheet_layout).

    frames: [K, H, W, 3] float 0..1 (the frames to stylize, not the whole clip). Returns the sheet,
    [1, height, width, 3] float32 0..1, grey between the tiles and in empty cells. Raises FramesError, ConfigError.
    """
    check_image_batch("frames", frames)
    layout = sheet_layout(frames.shape[0], frames.shape[1:3], max_side, gutter)
    tiles = _resize(frames, layout.tile_height, layout.tile_width)
    sheet = torch.full((1, layout.height, layout.width, 3), GUTTER_GREY, dtype=torch.float32)
    for k in range(layout.count):
        top, left, bottom, right = layout.box(k)
        sheet[0, top:bottom, left:right] = tiles[k]
    return sheet


def split_sheet(sheet: torch.Tensor, frame_size: tuple[int, int], count: int, max_side: int = DEFAULT_MAX_SIDE,
                gutter: int = GUTTER, frames: torch.Tensor | None = None,
                indices: list[int] | None = None) -> tuple[torch.Tensor, list[str]]:
    """A (stylized) sheet cut back into its keyframes, each at the frames' size: ([count, H, W, 3], notes).

    sheet: [1, Hs, Ws, 3] float 0..1, at the layout's size or any resize of it (its aspect within 10 % of the
    layout's: the tiles are cut by proportion). frame_size, count, max_side and gutter: as given to make_sheet.
    frames: [count, H, W, 3], the frames the sheet was made of, in its order: each tile is then registered to its
    frame (an image model's shift or zoom undone, frames.align). indices: the tiles' frame numbers, for messages.
    notes: what was adjusted. Raises FramesError on a malformed sheet, KeyframeError on a sheet that does not fit
    the layout or a tile that does not show its frame.
    """
    check_image_batch("sheet", sheet)
    if sheet.shape[0] != 1:
        raise FramesError(f"sheet: expected one image (the stylized sheet), received a batch of {sheet.shape[0]}. "
                          f"Pick one of the image model's results.")
    if frames is not None:
        check_image_batch("frames", frames)
        if frames.shape[0] != count or tuple(frames.shape[1:3]) != tuple(frame_size):
            raise FramesError(f"frames: expected the sheet's {count} frames of {frame_size[1]}x{frame_size[0]}, "
                              f"received {frames.shape[0]} of {frames.shape[2]}x{frames.shape[1]}.")
    layout = sheet_layout(count, frame_size, max_side, gutter)
    height, width = sheet.shape[1:3]
    stretch = abs(math.log((width / height) / (layout.width / layout.height)))
    if stretch > math.log1p(ASPECT_TOLERANCE):
        raise KeyframeError(
            f"sheet: expected the sheet of {layout.describe()} (aspect {layout.width / layout.height:.2f}, or any "
            f"resize of it), received {width}x{height} (aspect {width / height:.2f}). Was it cropped or padded by "
            f"the image model, or made for another count of keyframes, frame size or max_side? Give the indices, "
            f"frames and max_side it was made with, and the image model's output uncropped.")
    notes = []
    if (height, width) != (layout.height, layout.width):
        notes.append(f"sheet resized from {width}x{height} to its layout's {layout.width}x{layout.height}")
        sheet = _resize(sheet, layout.height, layout.width)
    tiles = []
    for k in range(count):
        top, left, bottom, right = layout.box(k)
        tile = _resize(sheet[:, top:bottom, left:right], *frame_size)[0]
        if frames is not None:
            name = f"sheet tile {k + 1}" if indices is None else f"keyframe {indices[k]} (sheet tile {k + 1})"
            tile, note = _register(frames[k], tile, name)
            if note:
                notes.append(note)
        tiles.append(tile)
    return torch.stack(tiles).contiguous(), notes


def _register(frame: torch.Tensor, tile: torch.Tensor, name: str) -> tuple[torch.Tensor, str | None]:
    """One split tile [H, W, 3] registered to its frame [H, W, 3]: the one place where splitting meets keyframe
    registration (frames.align.align_keyframe: it returns the tile on the frame's grid and a report). Returns
    (tile, note). Registration names `name` when it refuses a tile (KeyframeError: the tile does not show its
    frame)."""
    aligned = align_keyframe(frame, tile, name=name)
    return aligned.image, aligned.report.describe(name)


def _resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[N, h, w, 3] -> [N, height, width, 3], bicubic with antialiasing: a make-then-split round trip through
    448 px tiles keeps 35 dB of a stylized 350 px keyframe (bilinear: 29 dB)."""
    if tuple(images.shape[1:3]) == (height, width):
        return images.float().clamp(0, 1)
    x = F.interpolate(images.permute(0, 3, 1, 2).float(), size=(height, width), mode="bicubic",
                      align_corners=False, antialias=True)
    return x.permute(0, 2, 3, 1).clamp(0, 1).contiguous()


def _check_int(name: str, value, low: int, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name}: expected a whole number of {low} {unit} or more, received {value!r}.")
