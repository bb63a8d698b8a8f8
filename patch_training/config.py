"""Typed configurations: network architectures (presets), training settings, and their dict round trip."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import ConfigError, shown


# What the library builds at most: every preset lies far inside (a checkpoint asking for more is refused).
MAX_WIDTH = 1024        # channels of one scale
MAX_SCALES = 8          # unet scales (stride 128)
MAX_RES_BLOCKS = 64
MAX_IN_CHANNELS = 64    # RGB + guide channels (the guides known today add at most 13)
BASES = ("input", "colour")  # GeneratorConfig.base
# TrainConfig.device, StylizeOptions.device, the command line's --device (runtime.resolve_device). auto: a CUDA GPU,
# else an Intel GPU (xpu), else an Apple GPU (mps), else the CPU.
DEVICES = ("auto", "cpu", "cuda", "xpu", "mps")
DEVICE_HELP = ("auto: a CUDA GPU, else an Intel (xpu) or Apple (mps) GPU, else the CPU; an operation xpu or mps "
               "lacks makes that run start again on the CPU, said in the log")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # TrainConfig.precision, StylizeOptions.precision


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of a generator. Stored in every checkpoint as JSON."""

    arch: str = "unet"                        # "texler" (the paper's GeneratorJ) or "unet"
    widths: tuple[int, ...] = (16, 32, 64)   # channels per scale, full resolution first
    res_blocks: int = 3                       # residual blocks at the coarsest scale
    norm: str = "none"                        # "batch" (paper) or "none"
    smoothers: bool = False                   # texler: two extra 3x3 convs before the output (paper's "P")
    residual: bool = True                     # unet: predict a change of the input frame, not the frame
    base: str = "input"                       # residual unet: what the change is added to: "input" (the frame's
    #                                           RGB) or "colour" (a quadratic colour mapping of it fitted to the
    #                                           keyframes before training, stored as the buffer `colour_map`)
    in_channels: int = 3                      # RGB + guide channels; set from the guide layout, never by hand

    @property
    def stride(self) -> int:
        """Frame sizes are padded to a multiple of this internally."""
        return 2 ** (len(self.widths) - 1) if self.arch == "unet" else 4

    def with_inputs(self, in_channels: int) -> "GeneratorConfig":
        return dataclasses.replace(self, in_channels=in_channels)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        if data["base"] == "input":  # the behaviour of versions without the field: their files stay readable there
            del data["base"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GeneratorConfig":
        """Inverse of to_dict, strict: unknown keys, wrong types and out-of-range values raise ConfigError."""
        if not isinstance(data, dict):
            raise ConfigError(f"generator config: expected a JSON object, received {type(data).__name__}.")
        data = _known_keys(cls, data, "generator config")
        if "widths" in data:
            if not isinstance(data["widths"], (list, tuple)) or len(data["widths"]) > MAX_SCALES:
                raise ConfigError(f"widths: expected a list of at most {MAX_SCALES} channel counts, received "
                                  f"{shown(data['widths'])}.")
            data["widths"] = tuple(data["widths"])
        config = cls(**data)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ConfigError unless every field has its type and lies within what the library can build."""
        for name, kind in (("arch", str), ("norm", str), ("base", str), ("smoothers", bool), ("residual", bool),
                           ("res_blocks", int), ("in_channels", int)):
            value = getattr(self, name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"{name}: expected {kind.__name__}, received {shown(value)}.")
        if self.arch not in ("texler", "unet"):
            raise ConfigError(f"arch: expected 'texler' or 'unet', received {shown(self.arch)}.")
        if self.norm not in ("batch", "none"):
            raise ConfigError(f"norm: expected 'batch' or 'none', received {shown(self.norm)}.")
        if self.base not in BASES:
            raise ConfigError(f"base: expected one of {list(BASES)}, received {shown(self.base)}.")
        if self.base != "input" and not (self.arch == "unet" and self.residual):
            raise ConfigError(f"base: {self.base!r} needs a residual unet, received arch {self.arch!r} "
                              f"(residual {self.residual}). Use base 'input'.")
        if not all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= MAX_WIDTH for w in self.widths):
            raise ConfigError(f"widths: expected channel counts from 1 to {MAX_WIDTH}, received "
                              f"{shown(list(self.widths))}.")
        if self.arch == "texler" and len(self.widths) != 6:
            raise ConfigError(f"widths: the texler generator takes 6 widths, received {list(self.widths)}.")
        if self.arch == "unet" and not 2 <= len(self.widths) <= MAX_SCALES:
            raise ConfigError(f"widths: a unet needs 2 to {MAX_SCALES} scales, received {list(self.widths)}.")
        if not 0 <= self.res_blocks <= MAX_RES_BLOCKS:
            raise ConfigError(f"res_blocks: expected 0 to {MAX_RES_BLOCKS}, received {self.res_blocks}.")
        if not 3 <= self.in_channels <= MAX_IN_CHANNELS:
            raise ConfigError(f"in_channels: expected 3 (RGB) to {MAX_IN_CHANNELS}, received {self.in_channels}.")


# The paper's "P" setting (Texler et al. 2020, reference_P.yaml of the original): GeneratorJ with
# filters 32,64,128,128,128,64, 7 residual blocks, batch norm, tanh output, smoothers.
REFERENCE = GeneratorConfig(arch="texler", widths=(32, 64, 128, 128, 128, 64), res_blocks=7,
                            norm="batch", smoothers=True, residual=False)

# Faster presets: U-Nets predicting a residual over the input frame. Sizes chosen by
# benchmarks/bench.py (benchmarks/RESULTS.md): at a fixed CPU budget, steps beat width.
PRESETS: dict[str, GeneratorConfig] = {
    "fast": GeneratorConfig(arch="unet", widths=(16, 32, 64), res_blocks=3),
    "balanced": GeneratorConfig(arch="unet", widths=(24, 48, 96), res_blocks=4),
    "reference": REFERENCE,
}
DEFAULT_PRESET = "fast"


def preset_name(config: GeneratorConfig) -> str:
    """The preset a network belongs to ('fast', ...), whatever its input channels; 'custom' for none."""
    return next((name for name, preset in PRESETS.items()
                 if dataclasses.replace(preset.with_inputs(config.in_channels), base=config.base) == config),
                "custom")


# Stylization settings: how frames go through a network. None of them changes the result (batched and tiled
# inference equal the whole frame); they trade memory for speed. Here, below both the stylize stage and the
# memory estimates, since both read them.
DEFAULT_TILE = 0  # 0: by architecture, default_tile()
# Frames per forward pass are capped so that frames x tile area stays within about a megapixel: batch_size
# helps small frames, but at 1080p a batch of 4 full tiles held 1.8 GB more than one frame at a time (measured
# on the `fast` network), for no gain in speed on a CPU. The result does not depend on it.
BATCH_PIXELS = 1 << 20


def default_tile(config: GeneratorConfig) -> int:
    """Tile side for `tile=0`. Measured (benchmarks/RESULTS.md): 1024 keeps a U-Net under 1 GB at 4K and recomputes little
    context; the paper's generator (wide full-resolution layers, 76 px of context) stays near 1.5 GB at 768."""
    return 1024 if config.arch == "unet" else 768


@dataclass(frozen=True)
class StylizeOptions:
    """How stylization runs (the command line's --batch, --tile, --device, --precision, --threads)."""

    batch_size: int = 4       # frames per forward pass, at most about a megapixel of them (BATCH_PIXELS)
    tile: int = DEFAULT_TILE  # frames larger than this many pixels a side go in overlapping tiles; 0: default_tile
    device: str = "auto"      # one of DEVICES, or a torch.device (ComfyUI's)
    precision: str = "auto"   # auto (half on GPUs that support it), fp32, bf16, fp16
    threads: int = 0          # CPU threads; 0: the library's policy (runtime.default_threads)
# The residual's base when TrainConfig.base is "auto" (unet presets; the reference has none), and the U-Net
# presets' learning rate (Adam, cosine decay to a tenth), chosen by benchmarks/styles.py (benchmarks/RESULTS.md, Style classes).
# 2e-3 (was 1e-3) wins at 30 and 120 s on every style class. The "colour" base wins more at 30 s (pencil +5.6 dB)
# but raises the temporal instability of content-following styles by 13-16 % (the issue allows 10 %): an option.
# A warm start keeps 1e-3 as the base of its own schedule (warm_start.WARM_LR_SCALE was measured on it).
DEFAULT_BASE = "input"
DEFAULT_LR = 2e-3
WARM_BASE_LR = 1e-3
# Small patches first (U-Net presets, patch size left to the preset, cold starts): the first SMALL_PATCH_STEPS
# steps train on SMALL_PATCH x SMALL_PATCH patches, about 2.2x cheaper on the CPU, at SMALL_PATCH_LR_SCALE times
# the learning rate, then the preset's patch size. Chosen by benchmarks/styles.py and benchmarks/patch_size.py
# (benchmarks/RESULTS.md): small patches all along lose at 120 s on the real clips (less context per patch), and at
# the full rate their noisier gradients blew up on the paper-craft clip in 2 of 3 seeds; at half the rate not.
SMALL_PATCH = 32
SMALL_PATCH_STEPS = 800
SMALL_PATCH_LR_SCALE = 0.5


@dataclass(frozen=True)
class LossConfig:
    """Weights of the training losses. 0 switches a term off."""

    l1: float = 4.0            # paper: reconstruction x4
    ssim: float = 0.0          # structural similarity on patches (texture without a download)
    gradient: float = 0.0      # L1 between image gradients (stroke edges)
    perceptual: float = 0.0    # paper: VGG19 features x6; needs a user-supplied VGG19 weights file
    adversarial: float = 0.0   # paper: x0.5, patch discriminator with MSE (LSGAN) criterion
    vgg_path: str = ""         # VGG19 .safetensors (torchvision layout) for the perceptual term

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LossConfig":
        return cls(**_known_keys(cls, data, "loss config"))


LOSS_PRESETS: dict[str, LossConfig] = {
    # The paper's losses (perceptual only if a VGG19 file is given).
    "paper": LossConfig(l1=4.0, perceptual=6.0, adversarial=0.5),
    "l1": LossConfig(l1=1.0),
    # Default: chosen by benchmark (benchmarks/RESULTS.md): L1 + SSIM + gradient needs no download.
    "structure": LossConfig(l1=1.0, ssim=1.0, gradient=1.0),
}
DEFAULT_LOSS = "structure"


@dataclass(frozen=True)
class TrainConfig:
    """How long and how to train. `steps` and `seconds`: whichever comes first; 0 = no limit of that kind."""

    preset: str = DEFAULT_PRESET
    loss: str = "auto"              # a LOSS_PRESETS name; "auto": "paper" for reference, else DEFAULT_LOSS
    steps: int = 0
    seconds: float = 120.0
    seed: int = 0
    batch_size: int = 0             # 0: preset default (reference: 40 as in the paper, else 16)
    patch_size: int = 0             # 0: preset default (reference: 32 as in the paper, else 48)
    learning_rate: float = 0.0      # 0: preset default (reference: Adam 4e-4, else DEFAULT_LR with cosine decay)
    device: str = "auto"            # one of DEVICES
    precision: str = "auto"         # one of PRECISIONS
    threads: int = 0                # CPU torch threads during training; 0 = library policy (see threads.py)
    report_every_s: float = 0.5     # progress callback at most this often (seconds), plus first and last step
    preview_every_s: float = 5.0    # a preview image at most this often (seconds), 0 = never
    vgg_path: str = ""              # VGG19 weights file for the perceptual loss ("paper" loss only)
    base: str = "auto"              # residual base of unet presets: "input", "colour" or "auto" (DEFAULT_BASE)
    prior: str = "auto"             # starting weights of a cold start: "auto" (the shipped prior where it fits,
                                    # prior.py), "none" (random), or a .safetensors model file

    def validate(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"preset: expected one of {sorted(PRESETS)}, received {self.preset!r}.")
        if self.loss != "auto" and self.loss not in LOSS_PRESETS:
            raise ConfigError(f"loss: expected 'auto' or one of {sorted(LOSS_PRESETS)}, received {self.loss!r}.")
        if self.steps < 0 or self.seconds < 0:
            raise ConfigError(f"steps/seconds: expected values >= 0, received steps={self.steps}, "
                              f"seconds={self.seconds}.")
        if self.steps == 0 and self.seconds == 0:
            raise ConfigError("steps and seconds are both 0: training would never end. Give a step count "
                              "or a time budget in seconds.")
        if self.device not in DEVICES:
            raise ConfigError(f"device: expected one of {list(DEVICES)}, received {self.device!r}.")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision: expected auto, fp32, bf16 or fp16, received {self.precision!r}.")
        if self.base != "auto" and self.base not in BASES:
            raise ConfigError(f"base: expected 'auto' or one of {list(BASES)}, received {self.base!r}.")
        if self.is_reference and self.base == "colour":
            raise ConfigError("base: 'colour' needs a residual network; the reference preset predicts the frame "
                              "itself. Use base 'auto' or 'input' with preset 'reference'.")
        if self.prior not in ("auto", "none") and not str(self.prior).endswith(".safetensors"):
            raise ConfigError(f"prior: expected 'auto', 'none' or a model file ending in .safetensors, received "
                              f"{self.prior!r}.")
        if self.patch_size and self.patch_size < 16:
            raise ConfigError(f"patch_size: expected at least 16 pixels, received {self.patch_size}.")

    @property
    def is_reference(self) -> bool:
        return self.preset == "reference"

    def resolved_loss(self) -> LossConfig:
        name = self.loss if self.loss != "auto" else ("paper" if self.is_reference else DEFAULT_LOSS)
        loss = LOSS_PRESETS[name]
        if loss.perceptual and not self.vgg_path:
            # No VGG weights can be downloaded: the perceptual term is off unless the user supplies them.
            loss = dataclasses.replace(loss, perceptual=0.0)
        return dataclasses.replace(loss, vgg_path=self.vgg_path)

    def generator(self, in_channels: int, init: GeneratorConfig | None = None) -> GeneratorConfig:
        """The network this training builds: the preset with `in_channels` inputs and the resolved base ("auto":
        that of `init`, the network a warm start continues, else DEFAULT_BASE; the reference: "input")."""
        preset = PRESETS[self.preset].with_inputs(in_channels)
        base = self.base if self.base != "auto" else (
            "input" if self.is_reference else init.base if init is not None else DEFAULT_BASE)
        return dataclasses.replace(preset, base=base)

    def resolved_batch(self) -> int:
        return self.batch_size or (40 if self.is_reference else 16)

    def resolved_patch(self) -> int:
        return self.patch_size or (32 if self.is_reference else 48)

    def small_patch_steps(self, warm: bool = False) -> int:
        """Steps trained on SMALL_PATCH patches before resolved_patch(): only when the preset picks the patch size,
        for a U-Net preset starting from scratch (a warm start's schedule was measured without them)."""
        return 0 if self.patch_size or self.is_reference or warm else SMALL_PATCH_STEPS

    def resolved_lr(self, warm: bool = False) -> float:
        """The base learning rate; warm: of a warm start (WARM_BASE_LR: the rate its schedule was measured on)."""
        return self.learning_rate or (4e-4 if self.is_reference else WARM_BASE_LR if warm else DEFAULT_LR)


def _known_keys(cls, data: dict, what: str) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{what}: unknown keys {shown(unknown)}: written by a newer patch-toon? Update patch-toon.")
    return dict(data)
