"""Encoding a video file: H.264 MP4 through PyAV (plays in browsers), OpenCV's mp4v or MJPG where PyAV is missing.

PyAV (`av`) is optional: today's ComfyUI requires it, the library runs without it. With it an .mp4 / .m4v / .mov /
.mkv is H.264 (yuv420p, tagged BT.601 limited range, the matrix the frames are converted with), `faststart` (the
index first: a browser plays it while it loads), carries the audio of `audio_from` (copied when MP4 can hold it
as it is, else re-encoded to AAC) and string tags (`metadata`: ComfyUI's prompt and workflow, as core's Save Video
writes them). Without it OpenCV writes mp4v (MPEG-4 part 2, which browsers cannot play), with neither audio nor
tags, and says so in `notes` (which Stylize Video File shows on the node and logs, the command line prints).
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import PatchToonError

# OpenCV's bundled FFmpeg writes these without any system codec (checked with opencv-python-headless 4.10).
OPENCV_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
PYAV_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv"}  # .avi stays MJPG: an old container for old tools
H264_ENCODERS = ("libx264", "libopenh264", "h264")  # in order of preference; PyAV's wheels have libx264
# crf 18: near visually lossless. Preset "fast": at 1080p 30 % less CPU than "medium", same size and PSNR; "veryfast"
# half again but 0.7 dB less (benchmarks/video_out.py, benchmarks/RESULTS.md#video-out).
X264_OPTIONS = {"crf": "18", "preset": "fast"}
AUDIO_KEPT = {"aac", "mp3"}  # audio codecs MP4 holds and browsers play: copied packet for packet
AAC_FRAME = 1024  # samples per AAC frame
BT601, BT709, TV_RANGE = 6, 1, 1  # the H.264 colour tags (ISO/IEC 23091-2 code points)


def load_pyav():
    """The `av` module, or None where PyAV is not installed."""
    try:
        import av
    except ImportError:
        return None
    return av


def h264_encoder(av) -> str | None:
    """The first H.264 encoder this PyAV build has (H264_ENCODERS), or None."""
    for name in H264_ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except Exception:  # av.codec.codec.UnknownCodecError; its module moved between PyAV versions
            continue
        return name
    return None


def open_video(path: Path, suffix: str, fps: float, size: tuple[int, int], audio_from: Path | None = None,
               metadata: dict | None = None, what: str = "--out"):
    """An encoder writing uint8 RGB [H, W, 3] frames of `size` (H, W) to `path` as a `suffix` video: PyAV's
    H.264 where it can (PYAV_SUFFIXES, an H.264 encoder in PyAV), else OpenCV's. Raises PatchToonError naming
    `what` when neither can write it."""
    suffix = suffix.lower()
    av = load_pyav() if suffix in PYAV_SUFFIXES else None
    encoder = h264_encoder(av) if av is not None else None
    if encoder is not None:
        return PyAVVideo(av, encoder, path, fps, size, audio_from, metadata or {}, what)
    if suffix in PYAV_SUFFIXES:
        why = "PyAV (the `av` package) is not installed" if av is None else "PyAV has no H.264 encoder"
        note = (f"{why}: wrote {suffix} as OpenCV's mp4v (MPEG-4 part 2), which browsers and ComfyUI's video "
                f"preview cannot play, without the source's audio nor the workflow. `pip install av` for H.264.")
        return OpenCVVideo(path, suffix, fps, size, what, [note])
    return OpenCVVideo(path, suffix, fps, size, what, [])


class OpenCVVideo:
    """OpenCV's VideoWriter (mp4v, MJPG): the fallback."""

    def __init__(self, path: Path, suffix: str, fps: float, size: tuple[int, int], what: str, notes: list[str]):
        h, w = size
        self.codec, self.notes = OPENCV_CODECS[suffix], notes
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*self.codec), fps, (w, h))
        if not self._writer.isOpened():
            raise PatchToonError(f"{what}: OpenCV cannot write {suffix} video here. Write a folder of frames, or "
                                 f"another of {', '.join(OPENCV_CODECS)}.")

    def write(self, image: np.ndarray) -> None:
        self._writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self._writer.release()

    abort = close


class PyAVVideo:
    """H.264 yuv420p through PyAV, with the source's audio and string tags. Odd frame sizes (yuv420p halves
    both axes for colour) are padded by repeating the last row or column, and said in `notes`."""

    def __init__(self, av, encoder: str, path: Path, fps: float, size: tuple[int, int], audio_from: Path | None,
                 metadata: dict, what: str):
        self.av, self.codec, self.notes = av, "h264", []
        h, w = size
        self.pad = (h % 2, w % 2)
        if any(self.pad):
            self.notes.append(f"the frames are {w}x{h}; H.264 in yuv420p (what browsers play) needs even sizes, "
                              f"so the video is {w + self.pad[1]}x{h + self.pad[0]}, its last "
                              f"{'column' if self.pad[1] else 'row'}{' and row' if all(self.pad) else ''} "
                              f"repeated (the PNG frames keep {w}x{h})")
        options = {"movflags": "use_metadata_tags+faststart"} if path.suffix.lower() != ".mkv" else {}
        self.rate = Fraction(fps).limit_denominator(1001)  # 29.97002997 -> 30000/1001
        self.container = av.open(str(path), "w", options=options)
        try:
            for key, value in metadata.items():
                self.container.metadata[key] = value if isinstance(value, str) else json.dumps(value)
            self.stream = self.container.add_stream(encoder, rate=self.rate,
                                                    options=X264_OPTIONS if encoder != "libopenh264" else {})
            self.stream.width, self.stream.height = w + self.pad[1], h + self.pad[0]
            self.stream.pix_fmt = "yuv420p"
            context = self.stream.codec_context
            context.colorspace, context.color_range = BT601, TV_RANGE
            context.color_primaries, context.color_trc = BT709, BT709  # sRGB's primaries; its curve is near 709's
            self.audio = AudioCarry(av, audio_from, self.container) if audio_from is not None else None
        except BaseException:
            self.container.close()
            raise
        if self.audio is not None:
            self.notes.extend(self.audio.notes)
            if self.audio.stream is None:
                self.audio = None
        self.count = 0

    def write(self, image: np.ndarray) -> None:
        if any(self.pad):
            image = np.pad(image, ((0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame = frame.reformat(format="yuv420p", dst_colorspace=self.av.video.reformatter.Colorspace.ITU601,
                               dst_color_range=self.av.video.reformatter.ColorRange.MPEG)
        frame.pts = self.count
        self.container.mux(self.stream.encode(frame))
        self.count += 1
        if self.audio is not None:  # interleaved: the audio of each frame's time goes in beside it
            self.audio.until(float(self.count / self.rate))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        if self.audio is not None:
            self.audio.finish()
        self.container.close()

    def abort(self) -> None:
        if self.audio is not None:
            self.audio.source.close()
        self.container.close()


class AudioCarry:
    """The first decodable audio stream of `source_path` into `output`: copied when MP4 holds it as it is
    (AUDIO_KEPT), else decoded and re-encoded to AAC. `stream` is None when the source has no audio."""

    def __init__(self, av, source_path: Path, output):
        self.av, self.output, self.notes, self.stream = av, output, [], None
        self.source = av.open(str(source_path))
        found = [s for s in self.source.streams.audio if s.codec_context is not None]
        if not found:
            self.source.close()
            return
        audio = found[0]
        self.copy = audio.codec_context.name in AUDIO_KEPT
        if self.copy:
            self.stream = output.add_stream_from_template(audio)
        else:
            rate = audio.codec_context.sample_rate or 48000
            layout = "mono" if audio.codec_context.channels == 1 else "stereo"
            self.stream = output.add_stream("aac", rate=rate, layout=layout)
            self.resampler = av.audio.resampler.AudioResampler(format="fltp", layout=layout, rate=rate)
            self.fifo, self.samples, self.time_base = av.audio.fifo.AudioFifo(), 0, Fraction(1, rate)
            self.notes.append(f"the source's {audio.codec_context.name} audio was re-encoded to AAC")
        self.packets, self.pending = self.source.demux(audio), None

    def until(self, seconds: float | None) -> None:
        """Mux the source's audio packets that start before `seconds` (None: all that are left)."""
        while True:
            packet = self.pending if self.pending is not None else next(self.packets, None)
            self.pending = None
            if packet is None:
                return
            if packet.dts is None:  # the demuxer's empty packet at the end
                continue
            if seconds is not None and packet.pts is not None and float(packet.pts * packet.time_base) >= seconds:
                self.pending = packet
                return
            if self.copy:
                packet.stream = self.stream
                self.output.mux(packet)
            else:
                for frame in packet.decode():
                    self._encode(self.resampler.resample(frame))

    def _encode(self, frames) -> None:
        for frame in frames:
            frame.pts = None  # the fifo counts samples itself; a decoder's pts may jump by rounding
            self.fifo.write(frame)
        while self.fifo.samples >= AAC_FRAME:
            chunk = self.fifo.read(AAC_FRAME)
            chunk.pts, chunk.time_base, self.samples = self.samples, self.time_base, self.samples + AAC_FRAME
            self.output.mux(self.stream.encode(chunk))

    def finish(self) -> None:
        self.until(None)
        if not self.copy:
            self._encode(self.resampler.resample(None))
            rest = self.fifo.read()
            if rest is not None:
                rest.pts, rest.time_base = self.samples, self.time_base
                self.output.mux(self.stream.encode(rest))
            self.output.mux(self.stream.encode(None))
        self.source.close()
