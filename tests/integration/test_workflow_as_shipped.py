"""stylize_with_checkpoint.json as a newcomer meets it: the first thing queued on a fresh ComfyUI, unedited.

Its own server (not the session's shared one, which other tests fill with models and outputs), checked to have
run nothing and to hold no model of its own before the workflow is queued: the bundled sample style model is
what makes it run.
"""
import numpy as np
import pytest
import torch

from comfy_host import ComfyServer, output_files, setup_host, ui_to_api
from patch_training.frames.sources import FrameSource
from patch_training.metrics import psnr
from support import SAMPLE
from test_workflows import load, sample_frames, webp_frames


@pytest.fixture(scope="module")
def fresh_comfy():
    setup_host.ensure()
    with ComfyServer() as server:  # started here, stopped and deleted after this module
        yield server


def test_the_checkpoint_workflow_runs_as_shipped_on_a_fresh_comfyui(fresh_comfy):
    assert fresh_comfy._json("GET", "/history") == {}  # nothing ran before
    assert not list((fresh_comfy.root / "models" / "patch_toon").glob("*.safetensors"))  # no model of the user's
    workflow = load("stylize_with_checkpoint.json")
    prompt = ui_to_api(workflow, fresh_comfy.object_info())  # as shipped: no widget changed
    entry = fresh_comfy.run(prompt, timeout=300)

    (webp,) = [f for f in output_files(entry) if f["filename"].endswith(".webp")]
    result, inputs = webp_frames(fresh_comfy.get_file(**webp)), sample_frames()
    assert result.shape == inputs.shape == (32, 350, 350, 3)  # one stylized frame per input frame
    assert np.abs(result.astype(float) - inputs).mean() / 255 > 0.05, "the result is (nearly) the input"
    # And it is the sample's style: on the frames that are not keyframes, far closer to the stylized ground
    # truth than the input is.
    truth = FrameSource(SAMPLE / "truth").read_all()
    others = [i for i in range(32) if i not in (0, 14, 31)]
    styled = torch.from_numpy(result[others].astype(np.float32) / 255)
    plain = torch.from_numpy(inputs[others].astype(np.float32) / 255)
    assert psnr(styled, truth[others]) > psnr(plain, truth[others]) + 2
