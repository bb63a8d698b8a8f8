"""Networks: the paper's generator and discriminator (Texler et al. 2020) and a fast residual U-Net.

Every generator takes frames with guides, [N, C, H, W] in 0..1 (C = 3 RGB + guide channels), with H and W
multiples of `config.stride`, and returns stylized RGB [N, 3, H, W] roughly in 0..1 (clamp for display).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .colour_base import apply_map, identity_map
from .summary import TrainSummary
from ..config import GeneratorConfig


def _norm(config: GeneratorConfig, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if config.norm == "batch" else nn.Identity()


def _conv_norm_act(config: GeneratorConfig, cin: int, cout: int, k: int, stride: int, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=True), _norm(config, cout), act)


class _TexlerResBlock(nn.Module):
    """act -> conv -> norm -> act -> conv, added to the input (the paper's residual block, pre-activation)."""

    def __init__(self, config: GeneratorConfig, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1), _norm(config, channels),
                                  nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _UpConv(nn.Sequential):
    """Nearest 2x upsampling then a 3x3 conv (the paper's upconv_layer_upsample_and_conv, bias-free)."""

    def __init__(self, config: GeneratorConfig, cin: int, cout: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                         _norm(config, cout), nn.ReLU())


class TexlerGenerator(nn.Module):
    """The paper's GeneratorJ: same layers, shapes and parameter count as the original.

    Unlike the original, the stride-2 `conv2` is evaluated once: the original computes it twice per forward
    pass (once for the trunk, once for the skip connection) with identical results.
    """

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        f = config.widths
        cin = config.in_channels
        self.conv0 = _conv_norm_act(config, cin, f[0], 7, 1, nn.LeakyReLU(0.2))
        self.conv1 = _conv_norm_act(config, f[0], f[1], 3, 2, nn.LeakyReLU(0.2))
        self.conv2 = _conv_norm_act(config, f[1], f[2], 3, 2, nn.LeakyReLU(0.2))
        self.resnets = nn.Sequential(*[_TexlerResBlock(config, f[2]) for _ in range(config.res_blocks)])
        self.upconv2 = _UpConv(config, f[3] + f[2], f[4])
        self.upconv1 = _UpConv(config, f[4] + f[1], f[4])
        self.conv_11 = nn.Sequential(nn.Conv2d(f[0] + f[4] + cin, f[5], 7, 1, 3, bias=True), nn.ReLU())
        self.smoothers = nn.Sequential(
            nn.Conv2d(f[5], f[5], 3, 1, 1, bias=True), nn.ReLU(), nn.BatchNorm2d(f[5]),
            nn.Conv2d(f[5], f[5], 3, 1, 1, bias=True), nn.ReLU()) if config.smoothers else nn.Identity()
        self.conv_12 = nn.Conv2d(f[5], 3, 1, 1, 0, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 2 - 1  # the paper works in -1..1
        out0 = self.conv0(x)
        out1 = self.conv1(out0)
        out2 = self.conv2(out1)
        out = self.resnets(out2)
        out = self.upconv2(torch.cat((out, out2), 1))
        out = self.upconv1(torch.cat((out, out1), 1))
        out = self.conv_11(torch.cat((out, out0, x), 1))
        out = self.conv_12(self.smoothers(out))
        return (torch.tanh(out) + 1) / 2


class _ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class UNetGenerator(nn.Module):
    """A small U-Net: 3x3 convs, stride-2 downsampling, residual blocks at the coarsest scale, skip connections.

    With `residual`, it predicts a change of the input frame's RGB: the identity is its starting point, so
    the few steps a CPU affords go into style, not into learning to copy the frame. With base "colour", the change
    is added to a colour mapping of the frame (`colour_map`, colour_base.fit_map on the keyframes) instead.
    """

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        w = config.widths
        self.residual = config.residual
        self.stem = nn.Conv2d(config.in_channels, w[0], 3, 1, 1)
        self.down = nn.ModuleList(nn.Conv2d(w[i], w[i + 1], 3, 2, 1) for i in range(len(w) - 1))
        self.blocks = nn.Sequential(*[_ResBlock(w[-1]) for _ in range(config.res_blocks)])
        self.up = nn.ModuleList(nn.Conv2d(w[i + 1] + w[i], w[i], 3, 1, 1) for i in reversed(range(len(w) - 1)))
        self.head = nn.Conv2d(w[0], w[0], 3, 1, 1)
        self.out = nn.Conv2d(w[0], 3, 1, 1, 0)
        if self.residual:
            nn.init.zeros_(self.out.weight)  # start as the identity (of the base)
            nn.init.zeros_(self.out.bias)
        if config.base == "colour":
            self.register_buffer("colour_map", identity_map())
        else:
            self.colour_map = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.stem(x * 2 - 1), 0.2)
        skips = []
        for conv in self.down:
            skips.append(h)
            h = F.leaky_relu(conv(h), 0.2)
        h = self.blocks(h)
        for conv, skip in zip(self.up, reversed(skips)):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = F.leaky_relu(conv(torch.cat((h, skip), 1)), 0.2)
        out = self.out(F.leaky_relu(self.head(h), 0.2))
        if not self.residual:
            return torch.sigmoid(out)
        return (x[:, :3] if self.colour_map is None else apply_map(x[:, :3], self.colour_map)) + out


class PatchDiscriminator(nn.Module):
    """The paper's DiscriminatorN_IN (12 filters, 2 layers, instance norm, 4x4 convs): a PatchGAN on RGB in 0..1."""

    def __init__(self, filters: int = 12, layers: int = 2, in_channels: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(in_channels, filters, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for i in range(1, layers):
            prev, mult = mult, min(2 ** i, 8)
            mods += [nn.Conv2d(filters * prev, filters * mult, 4, 2, 1), nn.InstanceNorm2d(filters * mult),
                     nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** layers, 8)
        mods += [nn.Conv2d(filters * prev, filters * mult, 4, 1, 1), nn.InstanceNorm2d(filters * mult),
                 nn.LeakyReLU(0.2, True), nn.Conv2d(filters * mult, 1, 4, 1, 1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


def build_generator(config: GeneratorConfig) -> nn.Module:
    """The generator for `config` (validated), freshly initialised from torch's current RNG."""
    config.validate()
    return TexlerGenerator(config) if config.arch == "texler" else UNetGenerator(config)


def macs_per_pixel(model: nn.Module, in_channels: int, size: int = 64) -> float:
    """Multiply-accumulates of one forward pass per output pixel (convolutions only), measured with hooks."""
    total = 0

    def hook(mod: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total += out.numel() // out.shape[0] * k

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, in_channels, size, size))
    finally:
        for h in handles:
            h.remove()
    return total / (size * size)


def receptive_radius(config: GeneratorConfig) -> int:
    """How far (pixels) an output pixel sees into its input: tiles need this much context to match whole frames."""
    if config.arch == "texler":
        # conv0 7x7, conv1/conv2 3x3 stride 2, residual blocks at stride 4, two upconvs, conv_11 7x7, smoothers
        r = 3 + 1 + 2 + config.res_blocks * 2 * 4 + 2 + 1 + 3 + (2 if config.smoothers else 0)
        return r + 4  # nearest upsampling shifts by up to one coarse pixel
    levels = len(config.widths) - 1
    r = 1 + sum(2 ** i for i in range(levels)) + config.res_blocks * 2 * 2 ** levels
    r += sum(2 ** i for i in range(levels)) + 1
    return r + 2 ** levels


class StyleModel:
    """A trained style: the generator, its architecture, the guide layout it expects, and a training summary.

    guides: the guide specification as a dict ({} = the frame's RGB only); summary: the facts of its training
    (summary.TrainSummary, or its dict form); guide_masks: the keyframes' masks that
    placed the Gaussian guide, uint8 [K, h, w] (guide_set.encode_guide_masks), or None. This is ComfyUI's PATCH_MODEL.
    Not stored in a checkpoint: preview and strip (images of the final model), optimizer_state (Adam's state at
    the end of training, which a warm start continues; kept only under warm_start.KEEP_OPTIMIZER_STATE, off: it
    measured no faster) and source (the file it was loaded from).
    """

    def __init__(self, generator: nn.Module, config: GeneratorConfig, guides: dict | None = None,
                 summary: TrainSummary | dict | None = None, preview: torch.Tensor | None = None,
                 guide_masks: torch.Tensor | None = None):
        self.generator = generator.eval()
        self.config = config
        self.guides = dict(guides or {})
        self.summary = summary
        self.preview = preview  # [1, H, W, 3] or None: a held-out frame stylized by the final model
        self.strip: torch.Tensor | None = None  # [N, H, W, 3]: frames spread over the clip, stylized by it
        self.guide_masks = guide_masks
        self.optimizer_state: dict | None = None  # torch.optim.Adam.state_dict() of the generator, on the CPU
        self.source = ""  # the file name it was loaded from, or where it came from

    @property
    def summary(self) -> TrainSummary:
        return self._summary

    @summary.setter
    def summary(self, summary: TrainSummary | dict | None) -> None:
        self._summary = summary if isinstance(summary, TrainSummary) else TrainSummary.from_dict(summary)

    @property
    def guide_channels(self) -> int:
        return self.config.in_channels - 3

    def __repr__(self) -> str:
        steps = "?" if self.summary.steps is None else self.summary.steps
        return f"StyleModel(arch={self.config.arch}, widths={list(self.config.widths)}, steps={steps}, guides={self.guides})"
