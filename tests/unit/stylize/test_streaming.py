"""Long footage: streamed guides and stylization equal the whole-clip path, in memory flat in the clip's length,
from file to file (frames or video), leaving nothing partial behind."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from patch_training.config import StylizeOptions
from patch_training.model.checkpoint import save_model
from patch_training.frames.sources import FrameSource, to_uint8
from patch_training.guides import GuideSpec, compute_guides
from patch_training.guides.stream import stream_guides
from patch_training.guides.synthetic import rotating_clip, translating_clip
from patch_training.stylize.tiled import stylize
from patch_training.stylize.needs import model_guides
from patch_training.stylize.stream import stylize_stream
from support import REPO, SAMPLE, interruptible, random_model, read_video


def sample_frames():
    return FrameSource(SAMPLE / "frames").read_all()


def cut_clip():
    """Three shots: a translation, a rotation of another texture, the translation again."""
    a, _ = translating_clip(10, 64, 80, 2.0, -1.0, seed=1)
    b, _ = rotating_clip(8, 64, 80, 3.0, seed=2)
    return torch.cat([a, b, a[:5]])


SPECS = [GuideSpec(), GuideSpec(guides=("gauss", "edges", "denoise", "warp")), GuideSpec(guides=("edges",)),
         GuideSpec(guides=("denoise",), denoise_radius=3), GuideSpec(gauss_chain=False),
         GuideSpec(guides=("warp", "gauss"), detect_cuts=False)]
LAYOUTS = [("sample", [0, 14, 31]), ("sample", [0]), ("sample", [31]), ("sample", [5, 20]),
           ("cuts", [3]), ("cuts", [12]), ("cuts", [3, 14]), ("cuts", [0, 9, 10, 17]), ("cuts", [20])]


@pytest.mark.parametrize("clip,keys", LAYOUTS)
def test_streamed_guides_equal_the_whole_clip_guides(clip, keys):
    frames = sample_frames() if clip == "sample" else cut_clip()
    stylized = frames[keys].flip(-1).contiguous()
    for n, spec in enumerate(SPECS if clip == "cuts" else SPECS[:2]):
        whole = compute_guides(frames, spec, keys, keyframes=stylized).numpy()
        # A tiny RAM budget sends the frames that wait for their keyframe to disk: the same result.
        for budget_mb in ((0.05, 256) if clip == "cuts" else (0.05 if n else 256,)):
            out = list(stream_guides(iter(frames.numpy()), spec, keys, keyframes=stylized, store_budget_mb=budget_mb))
            assert [t for t, _, _ in out] == list(range(len(frames)))
            assert np.array_equal(np.stack([g for _, _, g in out]), whole), (spec, budget_mb)
            assert np.array_equal(np.stack([f for _, f, _ in out]), frames.numpy())


def test_streamed_guides_of_a_one_frame_clip_and_of_uint8_frames():
    frames = sample_frames()
    u8 = to_uint8(frames)
    whole = compute_guides(frames, GuideSpec(), [0, 14, 31]).numpy()
    streamed = np.stack([g for _, _, g in stream_guides(iter(u8), GuideSpec(), [0, 14, 31])])
    assert np.array_equal(streamed, whole)
    one = list(stream_guides(iter(u8[:1]), GuideSpec(guides=("gauss", "denoise")), [0]))
    assert np.array_equal(one[0][2], compute_guides(frames[:1], GuideSpec(guides=("gauss", "denoise")), [0])[0].numpy())


def test_streamed_guides_refuse_keyframes_beyond_the_clip():
    from patch_training.errors import KeyframeError

    with pytest.raises(KeyframeError, match=r"received \[40\]"):
        list(stream_guides(iter(sample_frames().numpy()), GuideSpec(), [0, 40]))


def guided_model(frames, keys, spec=GuideSpec()):
    model = random_model(guides=spec.channels)
    model.guides = spec.to_dict()
    model.summary = {"keyframe_indices": keys, "frame_size": list(frames.shape[1:3])}
    return model


@pytest.mark.parametrize("keys", [[0, 14, 31], [31], [7]])
def test_streamed_stylization_equals_the_whole_clip_path(keys):
    frames = sample_frames()
    model = guided_model(frames, keys)
    whole = to_uint8(stylize(model, frames, model_guides(model, frames), batch_size=4))
    streamed = np.stack([to_uint8(s[None])[0] for _, s in stylize_stream(model, iter(to_uint8(frames)), len(frames))])
    assert np.abs(streamed.astype(int) - whole).max() <= 1


def test_rgb_models_stream_too():
    frames = sample_frames()[:9]
    model = random_model()
    out = [(t, s) for t, s in stylize_stream(model, iter(to_uint8(frames)), options=StylizeOptions(batch_size=4))]
    assert [t for t, _ in out] == list(range(9))
    assert torch.allclose(torch.stack([s for _, s in out]), stylize(model, frames), atol=1e-6)


PEAK_SCRIPT = r"""
import sys, numpy as np
from patch_training.guides import GuideSpec
from patch_training.guides.synthetic import texture
from patch_training.stylize.stream import stylize_stream
sys.path.insert(0, sys.argv[3])
from support import random_model
n, spec = int(sys.argv[1]), GuideSpec()
# One texture of the same size for every length (a texture that grew with the clip once made the short and the
# long run differ by ~40 MB of the test's own making), scanned back and forth: content that keeps moving, no jump.
tex = (texture(512, 512) * 255).astype(np.uint8)
bounce = lambda t, speed: 256 - abs(256 - speed * t % 512)
frames = (tex[bounce(t, 2):bounce(t, 2) + 256, bounce(t, 3):bounce(t, 3) + 256] for t in range(n))
model = random_model(guides=spec.channels)
model.guides = spec.to_dict()
model.summary = {"keyframe_indices": [0, n - 1], "frame_size": [256, 256]}
count = sum(1 for _ in stylize_stream(model, frames, n, store_budget_mb=float(sys.argv[2])))
assert count == n
print([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1])
"""


def peak_kb(frames: int, budget_mb: float) -> int:
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(frames), str(budget_mb), str(REPO / "tests")],
                         capture_output=True, text=True, check=True, cwd=REPO, timeout=600)
    return int(out.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_memory_of_a_streamed_run_does_not_grow_with_the_clip_length():
    # Keyframes at both ends: every frame waits for the last keyframe, the worst case for the stream. The
    # whole-clip path holds ~2.5 MB per 256x256 frame (frames, flow, guides): 200 frames would add ~0.5 GB.
    short, long = peak_kb(20, 8), peak_kb(200, 8)
    assert long - short < 48 * 1024, (short, long)


def write_frames(folder: Path, frames: torch.Tensor) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t, image in enumerate(to_uint8(frames)):
        Image.fromarray(image).save(folder / f"f{t:04d}.png")


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "patch_training", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def guided(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    frames = sample_frames()[:12]
    write_frames(root / "frames", frames)
    model = guided_model(frames, [0, 11])
    save_model(model, root / "model.safetensors")
    return root


@pytest.mark.slow
def test_stylize_writes_a_video_with_every_frame_at_the_source_rate(guided, tmp_path):
    out = tmp_path / "styled.mp4"
    result = cli("stylize", "--model", guided / "model.safetensors", "--frames", guided / "frames", "--out", out,
                 "--fps", 12)
    assert result.returncode == 0, result.stderr
    video, fps = read_video(out)
    assert np.stack(video).shape == (12, 350, 350, 3) and fps == pytest.approx(12)
    frames_out = tmp_path / "frames_out"
    assert cli("stylize", "--model", guided / "model.safetensors", "--frames", guided / "frames",
               "--out", frames_out).returncode == 0
    assert sorted(p.name for p in frames_out.glob("*.png")) == [f"f{t:04d}.png" for t in range(12)]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_a_video_source_keeps_its_frame_rate(tmp_path):
    frames = to_uint8(sample_frames()[:6])
    source = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (350, 350))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    model = tmp_path / "rgb.safetensors"
    save_model(random_model(), model)
    out = tmp_path / "out.mp4"
    result = cli("stylize", "--model", model, "--frames", source, "--out", out)
    assert result.returncode == 0, result.stderr
    video, fps = read_video(out)
    assert len(video) == 6 and fps == pytest.approx(15)


@pytest.mark.slow
@pytest.mark.parametrize("out_name", ["styled", "styled.mp4"])
def test_a_failure_half_way_leaves_nothing(guided, tmp_path, out_name):
    frames = tmp_path / "frames"
    frames.mkdir()
    for p in sorted((guided / "frames").iterdir()):
        (frames / p.name).write_bytes(p.read_bytes())
    (frames / "f0009.png").write_bytes(b"not an image")
    result = cli("stylize", "--model", guided / "model.safetensors", "--frames", frames, "--out", tmp_path / out_name)
    assert result.returncode == 2 and "f0009.png" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


@pytest.mark.slow
def test_ctrl_c_leaves_nothing_and_a_killed_run_only_complete_frames(guided, tmp_path):
    many = tmp_path / "many"
    frames = torch.cat([sample_frames()] * 3)
    write_frames(many, frames)
    save_model(random_model(), tmp_path / "rgb.safetensors")
    args = [sys.executable, "-m", "patch_training", "stylize", "--model", tmp_path / "rgb.safetensors",
            "--frames", many, "--batch", 1]
    for sig, out in ((signal.SIGINT, tmp_path / "a"), (signal.SIGKILL, tmp_path / "b")):
        proc = subprocess.Popen([str(a) for a in args + ["--out", out]], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
        deadline = time.monotonic() + 120
        while not any(out.parent.glob(f".{out.name}.*.partial")) or not any(
                any(p.iterdir()) for p in out.parent.glob(f".{out.name}.*.partial")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        assert not out.exists()  # nothing in place: the frames written so far sit in the hidden staging folder
        if sig == signal.SIGINT:
            assert proc.returncode == 130 and "interrupted" in err
            assert not any(out.parent.glob(f".{out.name}.*"))
    # The next run on the killed output removes the dead run's staging folder, says so, and completes.
    result = cli("stylize", "--model", tmp_path / "rgb.safetensors", "--frames", many, "--out", tmp_path / "b")
    assert result.returncode == 0 and "left by an interrupted run" in result.stderr
    assert len(list((tmp_path / "b").glob("*.png"))) == len(frames)
    assert not any(tmp_path.glob(".b.*"))


@pytest.mark.parametrize("spec", [GuideSpec(), None])
def test_streamed_training_gives_the_model_of_whole_clip_training(spec):
    from patch_training.config import TrainConfig
    from patch_training.keyframes import make_keyframes
    from patch_training.train.fit import fit_style
    from patch_training.train.stream import fit_style_stream

    frames = sample_frames()
    keyframes, _ = make_keyframes([0, 31, 14], frames[[0, 31, 14]].flip(-1), frames=frames)
    config = TrainConfig(steps=4, seconds=0, seed=3)
    whole = fit_style(frames, keyframes, config, spec)
    streamed = fit_style_stream(iter(to_uint8(frames)), len(frames), keyframes, config, spec)
    assert streamed.summary.keyframe_indices == whole.summary.keyframe_indices == [0, 14, 31]
    for (name, a), (_, b) in zip(whole.generator.state_dict().items(), streamed.generator.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.equal(whole.preview, streamed.preview)


def test_streamed_training_reports_its_pass_and_a_model_without_guides_reads_no_further_than_it_uses():
    from patch_training.config import TrainConfig
    from patch_training.keyframes import make_keyframes
    from patch_training.train.stream import fit_style_stream
    from patch_training.train.progress import default_preview_index

    frames = sample_frames()
    keyframes, _ = make_keyframes([2, 9], frames[[2, 9]].flip(-1), frames=frames)
    read, seen = [], []

    def clip():
        for t, frame in enumerate(to_uint8(frames)):
            read.append(t)
            yield frame

    config = TrainConfig(steps=1, seconds=0)
    fit_style_stream(clip(), len(frames), keyframes, config, None, on_frames=lambda d, n: seen.append((d, n)))
    last = max(9, default_preview_index(len(frames), [2, 9]))  # the preview: the middle frame that is not a key
    assert last < len(frames) - 1
    assert read == list(range(last + 1)) and seen == [(d, last + 1) for d in range(1, last + 2)]
    read.clear(), seen.clear()
    fit_style_stream(clip(), len(frames), keyframes, config, GuideSpec(), on_frames=lambda d, n: seen.append((d, n)))
    assert read == list(range(len(frames))) and seen == [(d, len(frames)) for d in range(1, len(frames) + 1)]


@pytest.mark.slow
def test_a_run_killed_at_random_moments_leaves_nothing_or_only_complete_frames(tmp_path):
    import random

    frames = tmp_path / "frames"
    write_frames(frames, sample_frames())
    save_model(random_model(), tmp_path / "rgb.safetensors")
    args = ["stylize", "--model", tmp_path / "rgb.safetensors", "--frames", frames, "--batch", 1]
    start = time.monotonic()
    assert cli(*args, "--out", tmp_path / "whole").returncode == 0
    duration = time.monotonic() - start
    names = sorted(p.name for p in (tmp_path / "whole").iterdir())  # the frames and their render record
    rng = random.Random(0)
    for trial in range(4):  # from start-up to the moment the frames are moved into place
        out = tmp_path / f"killed{trial}"
        proc = subprocess.Popen([sys.executable, "-m", "patch_training", *map(str, args), "--out", str(out)],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.1) * duration)
        proc.kill()
        proc.wait(timeout=60)
        if out.exists():  # killed while moving frames into place: each one there is whole
            written = sorted(p.name for p in out.iterdir())
            assert set(written) <= set(names)
            for name in written:
                if name != ".patch-toon-render.json":  # written after the frames, atomically
                    assert Image.open(out / name).convert("RGB").size == (350, 350)
            if written and len(written) < len(names):
                again = cli(*args, "--out", out)
                assert again.returncode == 2 and "is not empty" in again.stderr
        # What is left in the hidden staging place is removed by the next run on the same output.
        result = cli(*args, "--out", out, "--overwrite")
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in out.iterdir()) == names
        assert not any(tmp_path.glob(f".{out.name}.*"))
