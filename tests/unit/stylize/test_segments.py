"""Segments of a clip, stylized apart, equal the whole: the guides of every frame (bitwise), the frames written."""
import numpy as np
import pytest
import torch

from patch_training.guides import GuideSpec, compute_guides
from patch_training.guides.stream import stream_guides
from patch_training.guides.synthetic import rotating_clip, translating_clip
from patch_training.stylize.segments import Segment, chained, plan_segments


def cut_clip():
    """Three shots: a translation, a rotation of another texture, the translation again (as test_streaming)."""
    a, _ = translating_clip(10, 48, 64, 2.0, -1.0, seed=1)
    b, _ = rotating_clip(8, 48, 64, 3.0, seed=2)
    return torch.cat([a, b, a[:5]])


def advected_images(frames, spec, keys):
    """What the first pass hands on: {keyframe: its advected image}."""
    sources = {}
    for _ in stream_guides(iter(frames), spec, keys, guides_from=len(frames),
                           on_source=lambda k, image: sources.__setitem__(k, image)):
        pass
    return sources


SPECS = [GuideSpec(), GuideSpec(guides=("gauss", "edges", "denoise"), denoise_radius=2),
         GuideSpec(gauss_chain=False), GuideSpec(guides=("edges", "denoise"))]
# Keyframes before, on and after the cuts (at 10 and 18), shots without keyframes, a keyframe on a shot's first
# frame, keyframes closer than the denoise radius.
LAYOUTS = [[3], [0, 9, 10, 17], [2, 6, 14], [20], [4, 7, 8], [12, 19]]


@pytest.mark.parametrize("keys", LAYOUTS)
def test_stitched_segments_equal_the_whole_stream(keys):
    frames = cut_clip().numpy()
    for spec in SPECS:
        whole = compute_guides(torch.from_numpy(frames), spec, keys).numpy()
        sources = advected_images(frames, spec, keys)
        last_pass = advected_images(frames[:max(keys) + 1], spec, keys)
        assert all(np.array_equal(last_pass[k], sources[k]) for k in keys if k in sources)
        radius = spec.denoise_radius if "denoise" in spec.guides else 0
        for max_frames in (100, 4, 1):
            segments = plan_segments(len(frames), keys, radius, max_frames, chained(spec))
            assert [t for s in segments for t in range(s.first, s.stop)] == list(range(len(frames)))
            for segment in segments:
                # The first pass may stop at the last keyframe: nothing after it changes the images.
                given = {} if segment.source is None else {segment.source: last_pass[segment.source]}
                got = []
                for t, _, guides in stream_guides(iter(frames[segment.read_from:]), spec, keys, start=segment.read_from,
                                                  sources=given, frame_count=len(frames), guides_from=segment.first):
                    if t >= segment.first:
                        got.append((t, guides))
                    if t >= segment.stop - 1:
                        break
                assert [t for t, _ in got] == list(range(segment.first, segment.stop))
                assert np.array_equal(np.stack([g for _, g in got]), whole[segment.first:segment.stop]), \
                    (spec, segment)


def test_segments_start_at_keyframes_and_read_the_denoise_radius_before():
    assert plan_segments(30, [5, 20], 3, 100) == [Segment(0, 0, 5), Segment(2, 5, 20, 5), Segment(17, 20, 30, 20)]
    # A long stretch is cut into equal pieces that all read from its anchor, with its keyframe's image.
    assert plan_segments(30, [5, 20], 3, 8)[1:3] == [Segment(2, 5, 13, 5), Segment(2, 13, 20, 5)]
    assert plan_segments(30, [0, 20], 0, 100) == [Segment(0, 0, 20), Segment(20, 20, 30, 20)]
    assert plan_segments(10, [], 0, 4) == [Segment(0, 0, 3), Segment(3, 3, 7), Segment(7, 7, 10)]
