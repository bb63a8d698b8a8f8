"""Segments of a clip, stylized apart, equal the whole: the guides of every frame (bitwise), the frames written."""
import numpy as np
import pytest
import torch

from patch_training.guides import GuideSpec, compute_guides
from patch_training.guides.stream import stream_guides
from patch_training.guides.synthetic import rotating_clip, translating_clip
from patch_training.segments import Segment, Survey, plan_segments


def cut_clip():
    """Three shots: a translation, a rotation of another texture, the translation again (as test_streaming)."""
    a, _ = translating_clip(10, 48, 64, 2.0, -1.0, seed=1)
    b, _ = rotating_clip(8, 48, 64, 3.0, seed=2)
    return torch.cat([a, b, a[:5]])


def surveyed(frames, spec, keys):
    shots, sources = [], {}
    for _ in stream_guides(iter(frames), spec, keys, on_shot=lambda s, e: shots.append((s, e)),
                           on_source=lambda k, image: sources.__setitem__(k, image)):
        pass
    radius = spec.denoise_radius if "denoise" in spec.guides else 0
    return Survey(len(frames), shots, sources, list(keys), radius)


SPECS = [GuideSpec(), GuideSpec(guides=("gauss", "edges", "denoise"), denoise_radius=2),
         GuideSpec(gauss_chain=False), GuideSpec(guides=("edges", "denoise"))]
LAYOUTS = [[3], [0, 9, 10, 17], [2, 6, 14], [20], [4, 7, 8]]


@pytest.mark.parametrize("keys", LAYOUTS)
def test_stitched_segments_equal_the_whole_stream(keys):
    frames = cut_clip().numpy()
    for spec in SPECS:
        whole = compute_guides(torch.from_numpy(frames), spec, keys).numpy()
        found = surveyed(frames, spec, keys)
        for max_frames in (100, 4, 1):
            segments = plan_segments(found, max_frames)
            assert [t for s in segments for t in range(s.first, s.stop)] == list(range(len(frames)))
            for segment in segments:
                got = []
                for t, _, guides in stream_guides(iter(frames[segment.read_from:]), spec, keys, start=segment.read_from,
                                                  sources=found.sources, frame_count=len(frames)):
                    if t >= segment.first:
                        got.append((t, guides))
                    if t >= segment.stop - 1:
                        break
                assert [t for t, _ in got] == list(range(segment.first, segment.stop))
                assert np.array_equal(np.stack([g for _, g in got]), whole[segment.first:segment.stop]), \
                    (spec, segment)


def test_segments_start_at_shot_starts_and_keyframes_and_read_the_denoise_radius_before():
    found = Survey(30, [(0, 12), (12, 30)], {}, [5, 20], 3)
    assert plan_segments(found, 100) == [Segment(0, 0, 5), Segment(2, 5, 12), Segment(12, 12, 20),
                                         Segment(17, 20, 30)]
    # A long stretch is cut into equal pieces that all read from its anchor.
    assert plan_segments(found, 4)[4:7] == [Segment(12, 12, 16), Segment(12, 16, 20), Segment(17, 20, 23)]
    rgb = Survey(10, [(0, 10)], {}, [], 0)
    assert plan_segments(rgb, 4) == [Segment(0, 0, 3), Segment(3, 3, 7), Segment(7, 7, 10)]
