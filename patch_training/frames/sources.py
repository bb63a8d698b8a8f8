"""Reading frames (a folder of images or a video file) and writing stylized frames, in chunks."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import FramesError, KeyframeError, MaskError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".gif")


def read_image(path: Path, what: str = "frames") -> np.ndarray:
    """One image as uint8 RGB [H, W, 3]. Raises FramesError naming the file when it cannot be read."""
    try:
        with Image.open(path) as im:
            return np.array(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise FramesError(f"{what}: cannot read {path} as an image ({exc.__class__.__name__}). Remove it or "
                          f"replace it with a PNG/JPG/WEBP.") from None


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 RGB arrays -> [N, H, W, 3] float32 0..1."""
    return torch.from_numpy(np.stack(images)).float().div_(255.0)


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """[N, H, W, 3] float 0..1 -> uint8 numpy."""
    return frames.clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy()


class FrameSource:
    """The frames of a clip: a folder of images in name order, or a video file (OpenCV), read in chunks.

    names: output file names (the images' own names; 00000.png ... for a video); size: (H, W).
    """

    def __init__(self, path: str | Path, what: str = "frames"):
        self.path, self.what = Path(path), what
        if not self.path.exists():
            raise FramesError(f"{what}: {self.path} does not exist. Give a folder of images or a video file.")
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not files:
                raise FramesError(f"{what}: the folder {self.path} holds no images ({', '.join(IMAGE_SUFFIXES)}). "
                                  f"Point to the folder that holds the frames.")
            self.files, self.fps = files, None
            self.names = [p.name for p in files]
            first = read_image(files[0], what)
            self.size = first.shape[:2]
        elif self.path.suffix.lower() in VIDEO_SUFFIXES:
            self.files = None
            cap = cv2.VideoCapture(str(self.path))
            ok, frame = cap.read()
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            cap.release()
            if not ok:
                raise FramesError(f"{what}: cannot decode the video {self.path} with OpenCV. Convert it to MP4 "
                                  f"(H.264) or extract its frames to a folder of PNGs.")
            self.size = frame.shape[:2]
            self.names = [f"{i:05d}.png" for i in range(max(count, 1))]
        else:
            raise FramesError(f"{what}: expected a folder of images or a video file ({', '.join(VIDEO_SUFFIXES)}), "
                              f"received {self.path}.")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def stems(self) -> list[str]:
        return [Path(n).stem for n in self.names]

    def chunks(self, size: int) -> Iterator[tuple[list[str], torch.Tensor]]:
        """Yields (names, frames [N, H, W, 3] float32 0..1) in order, at most `size` frames at a time."""
        names, batch = [], []
        for name, image in self.images():
            names.append(name)
            batch.append(image)
            if len(batch) == size:
                yield names, to_tensor(batch)
                names, batch = [], []
        if batch:
            yield names, to_tensor(batch)

    def images(self, start: int = 0) -> Iterator[tuple[str, np.ndarray]]:
        """Yields (name, frame [H, W, 3] uint8 RGB) one at a time, in order, from frame `start`: nothing of the
        clip is held."""
        if self.files is not None:
            for p in self.files[start:]:
                yield p.name, self._checked(read_image(p, self.what), p)
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while index < start and cap.grab():  # decoded, not converted: seeking by position is not exact
                index += 1
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield f"{index:05d}.png", self._checked(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), self.path)
                index += 1
            if index >= start:
                self.names = self.names[:index]  # the container's frame count can be an estimate
        finally:
            cap.release()

    def count(self) -> int:
        """The exact number of frames (a video's container may only estimate it: its frames are decoded)."""
        if self.files is not None:
            return len(self.files)
        cap = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while cap.grab():
                index += 1
        finally:
            cap.release()
        self.names = [f"{i:05d}.png" for i in range(index)]
        return index

    def read_all(self) -> torch.Tensor:
        """Every frame at once, [T, H, W, 3]. For training-size clips; stylization streams with chunks()."""
        return torch.cat([frames for _, frames in self.chunks(64)])

    def _checked(self, image: np.ndarray, path: Path) -> np.ndarray:
        if image.shape[:2] != tuple(self.size):
            h, w = self.size
            raise FramesError(f"{self.what}: all frames must have one size; {path} is {image.shape[1]}x"
                              f"{image.shape[0]}, the first frame is {w}x{h}. Resize the frames to one size.")
        return image


def images_by_stem(folder: str | Path, frame_stems: list[str], size: tuple[int, int] | None,
                   what: str) -> dict[str, np.ndarray]:
    """Images in `folder` named like frames (same name, any image extension), as uint8 arrays by stem.

    Raises KeyframeError/MaskError when the folder is empty, a name matches no frame, or a size differs from
    `size` (None: any size).
    """
    error = MaskError if what == "masks" else KeyframeError
    folder = Path(folder)
    if not folder.is_dir():
        raise error(f"{what}: expected a folder of images named like the frames, {folder} is not a folder.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise error(f"{what}: the folder {folder} holds no images. Put the stylized keyframes there, named like "
                    f"the frames they stylize (e.g. {frame_stems[0]}.png).")
    known = set(frame_stems)
    unmatched = [p.name for p in files if p.stem not in known]
    if unmatched:
        raise error(f"{what}: {unmatched[:5]} match no frame name. Each must be named exactly like the frame it "
                    f"belongs to (frames are named {frame_stems[0]} ... {frame_stems[-1]}).")
    out = {}
    for p in files:
        image = read_image(p, what)
        if size is not None and image.shape[:2] != tuple(size):
            raise error(f"{what}: {p.name} is {image.shape[1]}x{image.shape[0]}, the frames are {size[1]}x{size[0]}. "
                        f"Give {what} at the frames' size.")
        out[p.stem] = image
    return out
