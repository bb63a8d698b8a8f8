"""Hostile checkpoints: over a thousand damaged or edited copies of real checkpoints, and loading each either
gives a usable model or a CheckpointError, never another exception, never a large allocation, never a hang.

The cases run in a fresh Python (this file run as a script), so that its peak memory (ru_maxrss) measures
the loading alone and a hang is stopped by the subprocess timeout; each case also has its own alarm, so that
a hang names its case. Two real checkpoints are trained for a few steps first: one RGB-only, one guided.
"""
from __future__ import annotations

import json
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a fuzz, in a subprocess: about a minute

REPO = Path(__file__).resolve().parents[3]
CASE_SECONDS = 20          # per case, as an alarm inside the subprocess (a normal case takes milliseconds)
MEMORY_BOUND_MB = 48       # peak RSS over the warmed-up process while loading every hostile file
MIN_CASES = 1000


def test_hostile_checkpoints_give_only_checkpoint_errors_in_bounded_memory_and_time(tmp_path):
    run = subprocess.run([sys.executable, __file__, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["failures"] == [], report["failures"][:10]
    assert report["cases"] >= MIN_CASES, report["by_kind"]
    assert report["refused"] > report["cases"] / 2 and report["loaded"] > 0  # edits of unused summary fields load
    assert report["peak_growth_mb"] < MEMORY_BOUND_MB, report


# ----------------------------------------------------------------------------- the subprocess


def main(workdir: Path) -> None:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests"))
    import torch

    from patch_training.model.checkpoint import load_model, read_metadata, save_model
    from patch_training.config import TrainConfig
    from patch_training.errors import CheckpointError
    from patch_training.guides import GuideSpec
    from patch_training.stylize.tiled import stylize
    from patch_training.keyframes import make_keyframes
    from patch_training.train.fit import fit_style
    from patch_training.stylize.needs import guide_spec_of, guides_need

    torch.set_num_threads(1)
    frames = torch.rand(3, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    keyframes, _ = make_keyframes([0, 2], frames[[0, 2]].flip(-1), frames=frames)
    config = TrainConfig(steps=3, seconds=0, threads=1, report_every_s=1e9, preview_every_s=0)
    bases = {}
    for name, spec in (("rgb", None), ("guided", GuideSpec(guides=("gauss", "edges"), flow_preset="ultrafast"))):
        path = save_model(fit_style(frames, keyframes, config, spec), workdir / f"{name}.safetensors")
        bases[name] = path.read_bytes()

    def use(model) -> None:
        """What info and stylize do with a loaded model."""
        json.dumps(read_metadata(target))
        guide_spec_of(model), guides_need(model)
        guides = torch.rand(1, 16, 16, model.guide_channels) if model.guide_channels else None
        stylize(model, torch.rand(1, 16, 16, 3), guides, precision="fp32", threads=1)

    target = workdir / "case.safetensors"
    for data in bases.values():  # warm up: the peak of loading valid files is the baseline
        target.write_bytes(data)
        for _ in range(3):
            use(load_model(target))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def on_alarm(*_):
        raise TimeoutError(f"case took over {CASE_SECONDS} s")

    signal.signal(signal.SIGALRM, on_alarm)
    counts, failures, refused, loaded = {}, [], 0, 0
    start = time.perf_counter()
    for kind, data in cases(bases, random.Random(0)):
        counts[kind] = counts.get(kind, 0) + 1
        target.write_bytes(data)
        signal.alarm(CASE_SECONDS)
        try:
            use(load_model(target))
            loaded += 1
        except CheckpointError as error:
            refused += 1
            message = str(error)
            if not message.startswith(f"model: {target}") or len(message) > 1000:
                failures.append({"kind": kind, "error": "message", "message": message[:300]})
        except BaseException as error:  # anything but the typed error is a failure, a hang included
            failures.append({"kind": kind, "error": type(error).__name__, "message": str(error)[:300]})
        finally:
            signal.alarm(0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"cases": sum(counts.values()), "by_kind": counts, "refused": refused, "loaded": loaded,
                      "failures": failures, "seconds": round(time.perf_counter() - start, 1),
                      "baseline_mb": baseline / 1024, "peak_growth_mb": (peak - baseline) / 1024}))


def split(data: bytes) -> tuple[dict, bytes]:
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def pack(header, body: bytes) -> bytes:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return len(raw).to_bytes(8, "little") + raw + body


HOSTILE = [None, True, False, 0, -1, 1.5, 2**63, 10**100, 1e308, float("nan"), "", "x" * 300, [], {}, [[[[1]]]],
           {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}, ["unet"] * 1000]
HOSTILE_TEXT = ["", "{", "[]", "null", "1e999", "9" * 5000, "[" * 100_000, '{"a":' * 60 + "1" + "}" * 60,
                "\u0000", "x" * 1_500_000, '{"arch": "unet"}' * 3]


def cases(bases: dict[str, bytes], rng: random.Random):
    """(kind, file bytes) of every hostile case, derived from the real checkpoints in `bases`."""
    import torch
    from safetensors.torch import load, save

    for name, data in bases.items():
        header, body = split(data)
        end = 8 + int.from_bytes(data[:8], "little")
        # Truncated anywhere, and right at the edges of the size field and the header.
        for cut in sorted({0, 1, 7, 8, 9, end - 1, end, end + 1, len(data) - 1} | {rng.randrange(len(data))
                                                                                   for _ in range(80)}):
            yield "truncated", data[:cut]
        yield "extra bytes", data + b"\0" * 16
        # Bit flips in the size field, in the header, and in the weights.
        for lo, hi, kind, count in ((0, 8, "flip in size field", 24), (8, end, "flip in header", 160),
                                    (end, len(data), "flip in weights", 20)):
            for _ in range(count):
                flipped = bytearray(data)
                bit = rng.randrange(lo * 8, hi * 8)
                flipped[bit // 8] ^= 1 << (bit % 8)
                yield kind, bytes(flipped)
        # Each metadata field, and each key of its JSON, replaced by a wrong type, a huge value, nesting.
        meta = header["__metadata__"]
        for key in meta:
            for text in HOSTILE_TEXT + [json.dumps(v) for v in HOSTILE]:
                yield f"metadata {key}", pack({**header, "__metadata__": {**meta, key: text}}, body)
            yield f"metadata {key}", pack({**header, "__metadata__": {k: v for k, v in meta.items() if k != key}}, body)
        for key in ("generator", "guides", "summary"):
            value = json.loads(meta[key])
            for field in list(value) + ["unknown_field"]:
                for hostile in HOSTILE:
                    edited = json.dumps({**value, field: hostile})
                    yield f"{key} field", pack({**header, "__metadata__": {**meta, key: edited}}, body)
                yield f"{key} field", pack({**header, "__metadata__": {
                    **meta, key: json.dumps({k: v for k, v in value.items() if k != field})}}, body)
        yield "metadata not text", pack({**header, "__metadata__": {**meta, "summary": {"steps": 1}}}, body)
        yield "no metadata", pack({k: v for k, v in header.items() if k != "__metadata__"}, body)
        yield "huge metadata", pack({**header, "__metadata__": {**meta, **{f"k{i}": "v" * 200 for i in range(2000)}}},
                                    body)
        # The tensor table edited: offsets, shapes, dtypes that lie about the bytes.
        names = [k for k in header if k != "__metadata__"]
        for tensor in rng.sample(names, 8):
            info = header[tensor]
            for edit in ({"data_offsets": [0, 2**62]}, {"data_offsets": [info["data_offsets"][1], 0]},
                         {"shape": [2**40, 2**40]}, {"shape": []}, {"shape": [-1]}, {"dtype": "X9"},
                         {"dtype": "F8_E4M3"}, {"dtype": "I64"}, {"shape": "big"}):
                yield "tensor table", pack({**header, tensor: {**info, **edit}}, body)
        yield "tensor table", pack(b"[1, 2, 3]", body)
        yield "tensor table", pack(b"\xff\xfe" + b"{}" * 10, body)
        # Tensors missing, extra, renamed, of another dtype or shape, holding NaN or infinity.
        state = load(data)
        for tensor in state:
            yield "missing tensor", save({k: v for k, v in state.items() if k != tensor}, meta)
        for tensor in rng.sample(list(state), 10):
            renamed = {(k + "x" if k == tensor else k): v for k, v in state.items()}
            yield "renamed tensor", save(renamed, meta)
            for dtype in (torch.float16, torch.float64, torch.bfloat16, torch.int32):
                yield "wrong dtype", save({**state, tensor: state[tensor].to(dtype)}, meta)
            yield "wrong shape", save({**state, tensor: state[tensor].reshape(-1)}, meta)
            yield "wrong shape", save({**state, tensor: torch.zeros(3, 3)}, meta)
            for bad in (float("nan"), float("inf"), float("-inf")):
                weights = state[tensor].clone()
                weights.view(-1)[rng.randrange(weights.numel())] = bad
                yield "nan or inf", save({**state, tensor: weights}, meta)
        for extra in ("extra.weight", "stem.weight2", "guide.masks", "guide.", "guide.masks.big"):
            tensor = torch.zeros(2, 4, 4) if extra != "guide.masks.big" else torch.zeros(1, 1, 1, 1, 2)
            yield "extra tensor", save({**state, extra: tensor}, meta)
        yield "extra tensor", save({**state, "guide.masks": torch.zeros(2, 4, 4, dtype=torch.int64)}, meta)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
