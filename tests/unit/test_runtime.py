"""Devices and precision: CUDA, Intel (xpu) and Apple (mps) GPUs by name, the CPU when torch sees none of them.

These tests run on a CPU machine, where torch reports no xpu and no mps GPU: what they check is how the library
names, refuses and falls back from those devices. Running on a real xpu or mps GPU is not tested here.
"""
import logging

import pytest
import torch

from patch_training.cli import build_parser
from patch_training.config import DEVICES, TrainConfig
from patch_training.errors import ConfigError
from patch_training.runtime import (GPU_TYPES, gpu_available, on_device_or_cpu, resolve_device, resolve_precision,
                                    unsupported_on)

UNSEEN = [kind for kind in GPU_TYPES if not gpu_available(kind)]
MPS, XPU, CUDA, CPU = (torch.device(kind) for kind in ("mps", "xpu", "cuda", "cpu"))


def test_the_device_names_are_the_cpu_and_the_three_gpu_kinds():
    assert DEVICES == ("auto", "cpu", "cuda", "xpu", "mps")
    for name in DEVICES:
        TrainConfig(device=name).validate()
        assert build_parser().parse_args(["stylize", "--model", "m", "--frames", "f", "--out", "o",
                                          "--device", name]).device == name


@pytest.mark.parametrize("name", ["mps", "xpu", "xpu:0", "cuda", "cuda:1"])
def test_a_gpu_torch_does_not_see_is_refused_by_name(name):
    if name.split(":")[0] not in UNSEEN:
        pytest.skip(f"torch sees a {name} GPU here")
    with pytest.raises(ConfigError, match=rf"device: '{name}' was asked for, but this torch build sees no .*"
                                          rf"Use --device cpu or auto"):
        resolve_device(name)


def test_an_unknown_device_is_refused_with_the_names_it_takes():
    with pytest.raises(ConfigError, match=r"expected 'auto', 'cpu', 'cuda', 'xpu' or 'mps', received 'npu'"):
        resolve_device("npu")
    with pytest.raises(ConfigError, match=r"device: expected one of \['auto', 'cpu', 'cuda', 'xpu', 'mps'\]"):
        TrainConfig(device="npu").validate()


def test_auto_is_the_cpu_when_torch_sees_no_gpu():
    if len(UNSEEN) < len(GPU_TYPES):
        pytest.skip("torch sees a GPU here")
    assert resolve_device("auto") == CPU


def test_precision_on_the_apple_and_intel_gpus():
    # mps: fp32 training (fp16 without loss scaling risks underflow), fp16 inference; fp16 asked for is fp16.
    assert resolve_precision("auto", MPS, training=True) == torch.float32
    assert resolve_precision("auto", MPS, training=False) == torch.float16
    assert resolve_precision("fp16", MPS, training=True) == torch.float16
    assert resolve_precision("fp32", XPU, training=True) == torch.float32
    if not gpu_available("mps"):  # bf16 is tried on the GPU itself: with no mps GPU it cannot run
        with pytest.raises(ConfigError, match="bf16 is not supported on this Apple GPU"):
            resolve_precision("bf16", MPS, training=True)
    with pytest.raises(ConfigError, match="fp16 is for GPUs"):
        resolve_precision("fp16", CPU, training=False)


# What torch raises for an operation without an xpu or mps kernel (the first line of its message).
MISSING_OP = {MPS: NotImplementedError("The operator 'aten::grid_sampler_3d' is not currently implemented for "
                                       "the MPS device."),
              XPU: NotImplementedError("Could not run 'aten::_foo' with arguments from the 'XPU' backend.")}


@pytest.mark.parametrize("device", [MPS, XPU])
def test_an_operation_the_gpu_lacks_reruns_on_the_cpu_and_says_so(device, caplog):
    tried = []

    def run(dev):
        tried.append(dev)
        if dev == device:
            raise MISSING_OP[device]
        return "done"

    with caplog.at_level(logging.WARNING, logger="patch_training.runtime"):
        assert on_device_or_cpu(run, device, "training") == "done"
    assert tried == [device, CPU]
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("training on the CPU: the ") and str(MISSING_OP[device]) in message
    assert ("Apple GPU (mps)" if device == MPS else "Intel GPU (xpu)") in message


@pytest.mark.parametrize("device, error", [
    (CUDA, NotImplementedError("Could not run 'aten::_foo' with arguments from the 'CUDA' backend.")),  # as today
    (CPU, NotImplementedError("not implemented")),
    (MPS, RuntimeError("MPS backend out of memory (MPS allocated: 17 GB)")),  # not an operation it lacks
    (MPS, ValueError("frames: expected [T, H, W, 3]")),
])
def test_other_errors_reach_the_caller_as_they_are(device, error):
    def run(dev):
        raise error

    assert not unsupported_on(error, device)
    with pytest.raises(type(error), match=str(error)[:20].replace("(", r"\(").replace("[", r"\[")):
        on_device_or_cpu(run, device, "stylizing")

