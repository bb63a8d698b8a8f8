"""tools/random_sd15.py's weights: deterministic from the seed, scaled to keep a forward pass tame; SD 1.5's schedule.

The layout itself (every key and shape, read from ComfyUI's classes) is checked where ComfyUI is: the integration
test loads the file with ComfyUI's own loader and runs the diffusion workflow on it.
"""
import importlib.util
import math

import torch

from support import REPO


def load_tool():
    spec = importlib.util.spec_from_file_location("random_sd15", REPO / "tools" / "random_sd15.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_seed_same_weights_and_another_seed_other_weights():
    tool = load_tool()
    key = "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"
    first, again = tool.random_tensor(key, (320, 320, 3, 3), 0), tool.random_tensor(key, (320, 320, 3, 3), 0)
    assert first.dtype == torch.float16 and torch.equal(first, again)
    assert not torch.equal(first, tool.random_tensor(key, (320, 320, 3, 3), 1))
    # Each tensor has its own stream: two layers of one shape differ.
    other = key.replace("input_blocks.1", "input_blocks.2")
    assert not torch.equal(first, tool.random_tensor(other, (320, 320, 3, 3), 0))


def test_weights_keep_the_variance_of_a_layers_input_and_residual_branches_start_small():
    tool = load_tool()
    conv = tool.random_tensor("first_stage_model.decoder.conv_in.weight", (512, 4, 3, 3), 0).float()
    assert abs(conv.std().item() * math.sqrt(4 * 9) - 1) < 0.05
    closing = tool.random_tensor("model.diffusion_model.input_blocks.1.0.out_layers.3.weight", (320, 320, 3, 3), 0)
    assert abs(closing.float().std().item() * math.sqrt(320 * 9) - tool.RESIDUAL_OUTPUT_GAIN) < 0.01
    assert torch.equal(tool.random_tensor("x.norm1.weight", (320,), 0), torch.ones(320, dtype=torch.float16))
    assert torch.equal(tool.random_tensor("x.norm1.bias", (320,), 0), torch.zeros(320, dtype=torch.float16))
    ids = tool.random_tensor("cond_stage_model.transformer.text_model.embeddings.position_ids", (1, 77), 0)
    assert ids.dtype == torch.int64 and ids.tolist() == [list(range(77))]


def test_the_noise_schedule_is_sd15s_scaled_linear_one():
    buffers = load_tool().schedule_buffers()
    assert buffers["betas"].shape == (1000,)
    assert math.isclose(buffers["betas"][0].item(), 0.00085, rel_tol=1e-5)
    assert math.isclose(buffers["betas"][-1].item(), 0.012, rel_tol=1e-5)
    assert math.isclose(buffers["alphas_cumprod"][-1].item(), 0.004660, rel_tol=1e-3)  # SD 1.5's last alpha-bar
