"""Writes a Stable Diffusion 1.5 checkpoint with random weights: every key and shape of SD 1.5, nothing downloaded.

    .venv/bin/python tools/random_sd15.py OUT.safetensors [--seed 0]

The layout (UNet under `model.diffusion_model.`, VAE under `first_stage_model.`, CLIP ViT-L/14 text encoder under
`cond_stage_model.transformer.text_model.`, plus the DDPM noise schedule buffers an original SD 1.5 file carries)
comes from the test host's own ComfyUI model classes (ComfyUI of March 2024 in .cache/comfyui-2024/, built by
tests/comfy_host/setup_host.py), instantiated on torch's meta device (no memory) with SD 1.5's architecture
numbers given here. Only their parameter names and shapes are read; the weights are drawn here, fp16 (about
2 GB), deterministic from --seed: each tensor from its own generator seeded by the seed and the tensor's name.

The draws keep every forward pass finite and tame: each weight matrix or kernel from N(0, 1/fan_in) (the
variance a layer's output keeps), scaled down on the layers that close a residual branch (a trained SD 1.5
starts those from zero), norms' scales 1, biases 0, embeddings N(0, 0.02^2). The images it makes are noise-like,
not art: it exists to run a diffusion workflow end to end in tests. Needs the host's Python (its venv has
einops and the rest ComfyUI imports): run from another Python, it runs itself again under that one.
"""
import argparse
import hashlib
import math
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST_DIR = REPO / ".cache" / "comfyui-2024"
COMFY_DIR, HOST_PYTHON = HOST_DIR / "ComfyUI", HOST_DIR / "venv" / "bin" / "python"
STUBS_DIR = HOST_DIR / "stubs"  # the host's stand-in torchvision, which ComfyUI imports at start

# SD 1.5's UNet (the CompVis v1 inference config): 320 base channels, 4 levels, cross-attention on text of
# width 768 with 8 heads, attention at the first three levels, one transformer block per attention.
UNET = dict(image_size=32, in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2, 2],
            channel_mult=[1, 2, 4, 4], transformer_depth=[1, 1, 1, 1, 1, 1, 0, 0], transformer_depth_middle=1,
            transformer_depth_output=[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], num_heads=8, context_dim=768,
            use_spatial_transformer=True, use_linear_in_transformer=False, legacy=False, adm_in_channels=None,
            use_checkpoint=False, use_temporal_attention=False, use_temporal_resblock=False)
# Its VAE (KL-f8): 4 latent channels, 128 base channels, 4 levels, no attention but in the middle block.
VAE = dict(double_z=True, z_channels=4, resolution=256, in_channels=3, out_ch=3, ch=128, ch_mult=[1, 2, 4, 4],
           num_res_blocks=2, attn_resolutions=[], dropout=0.0)
VAE_EMBED_DIM = 4
TEXT_PREFIX = "transformer.text_model."  # SD 1.5 keeps the text model only (no projection, no logit scale)
# The scaled-linear beta schedule of SD 1.5's training: 1000 steps from 0.00085 to 0.012.
TIMESTEPS, BETA_START, BETA_END = 1000, 0.00085, 0.012
RESIDUAL_OUTPUT_GAIN = 0.1  # layers that close a residual branch (zero-initialised in SD 1.5's training)
RESIDUAL_OUTPUTS = ("out_layers.3.weight", "proj_out.weight", "ff.net.2.weight", "to_out.0.weight",
                    "out_proj.weight", "fc2.weight")


def in_host_python() -> bool:
    return Path(sys.prefix).resolve() == (HOST_DIR / "venv").resolve()


def rerun_in_host_python() -> int:
    if not HOST_PYTHON.exists():
        sys.exit(f"{HOST_PYTHON} is missing: build the ComfyUI test host first "
                 "(.venv/bin/python tests/comfy_host/setup_host.py, or make test)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(COMFY_DIR), str(STUBS_DIR)])}
    return os.spawnve(os.P_WAIT, str(HOST_PYTHON), [str(HOST_PYTHON), __file__, *sys.argv[1:]], env)


def layout() -> dict:
    """{checkpoint key: shape} of SD 1.5's weights, read from ComfyUI's classes on the meta device."""
    sys.path[:0] = [str(COMFY_DIR), str(STUBS_DIR)]
    import torch
    from comfy.cli_args import args as comfy_args

    comfy_args.cpu = True  # model_management picks its device on import: no GPU is needed to read shapes
    import comfy.clip_model
    import comfy.ops
    import comfy.sd1_clip
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    print(f"random_sd15: model classes from {Path(comfy.ops.__file__).resolve().parents[1]}", file=sys.stderr)
    shapes = {}
    with torch.device("meta"), torch.no_grad():
        unet = UNetModel(**UNET, dtype=torch.float16, device="meta", operations=comfy.ops.disable_weight_init)
        shapes.update({"model.diffusion_model." + k: tuple(v.shape) for k, v in unet.state_dict().items()})
        del unet
        vae = AutoencoderKL(ddconfig=VAE, embed_dim=VAE_EMBED_DIM)
        shapes.update({"first_stage_model." + k: tuple(v.shape) for k, v in vae.state_dict().items()})
        del vae
        clip = comfy.sd1_clip.SDClipModel(device="meta", dtype=torch.float16)
        shapes.update({"cond_stage_model." + k: tuple(v.shape) for k, v in clip.state_dict().items()
                       if k.startswith(TEXT_PREFIX)})
    return shapes


def tensor_seed(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little") & (2 ** 63 - 1)


def random_tensor(key: str, shape: tuple, seed: int):
    """The weight `key` of `shape`, fp16, drawn as the module docstring says."""
    import torch

    generator = torch.Generator().manual_seed(tensor_seed(seed, key))
    name = key.rsplit(".", 1)[-1]
    if key.endswith("position_ids"):
        return torch.arange(shape[-1], dtype=torch.int64).reshape(shape)
    if "embedding" in key and len(shape) == 2:
        return (torch.randn(shape, generator=generator) * 0.02).half()
    if len(shape) <= 1:
        # 1-D: norms' scales (weight) start at 1, every bias at 0.
        return (torch.ones(shape) if name == "weight" else torch.zeros(shape)).half()
    fan_in = math.prod(shape[1:])
    std = 1 / math.sqrt(fan_in)
    if key.endswith(RESIDUAL_OUTPUTS):
        std *= RESIDUAL_OUTPUT_GAIN
    return (torch.randn(shape, generator=generator) * std).half()


def schedule_buffers() -> dict:
    """The DDPM buffers of an original SD 1.5 file (float32), from its beta schedule."""
    import torch

    betas = torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, TIMESTEPS, dtype=torch.float64) ** 2
    alphas = torch.cumprod(1 - betas, dim=0)
    previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas[:-1]])
    variance = betas * (1 - previous) / (1 - alphas)
    buffers = {"betas": betas, "alphas_cumprod": alphas, "alphas_cumprod_prev": previous,
               "sqrt_alphas_cumprod": alphas.sqrt(), "sqrt_one_minus_alphas_cumprod": (1 - alphas).sqrt(),
               "log_one_minus_alphas_cumprod": (1 - alphas).log(), "sqrt_recip_alphas_cumprod": (1 / alphas).sqrt(),
               "sqrt_recipm1_alphas_cumprod": (1 / alphas - 1).sqrt(), "posterior_variance": variance,
               "posterior_log_variance_clipped": variance.clamp(min=1e-20).log(),
               "posterior_mean_coef1": betas * previous.sqrt() / (1 - alphas),
               "posterior_mean_coef2": (1 - previous) * (1 - betas).sqrt() / (1 - alphas)}
    return {key: value.float() for key, value in buffers.items()}


def build(seed: int) -> dict:
    tensors = {key: random_tensor(key, shape, seed) for key, shape in layout().items()}
    tensors.update(schedule_buffers())
    return tensors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the .safetensors file to write")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same file")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.overwrite:
        print(f"{args.out} exists: pass --overwrite to replace it", file=sys.stderr)
        return 2
    if not in_host_python():
        return rerun_in_host_python()
    from safetensors.torch import save_file

    tensors = build(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    save_file(tensors, str(partial), metadata={"format": "pt", "patch_toon": f"random SD 1.5, seed {args.seed}"})
    partial.replace(args.out)
    count = sum(t.numel() for t in tensors.values())
    print(f"{args.out}: {len(tensors)} tensors, {count / 1e6:.0f} M values, seed {args.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
