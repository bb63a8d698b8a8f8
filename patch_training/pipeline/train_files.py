"""Training from files (a folder of frames or a video, folders of keyframes and masks): what the command line's
`train` and the batch job (batch/tasks.py) share, so that both make the same model from the same options."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..config import BASES, DEFAULT_BASE, DEVICE_HELP, DEVICES, LOSS_PRESETS, PRECISIONS, PRESETS, TrainConfig
from ..errors import ConfigError, FramesError, PatchToonError
from ..frames.align import ALIGN_MODES, make_aligned_keyframes
from ..frames.sources import IMAGE_SUFFIXES, FrameSource, images_by_stem, to_tensor
from ..guides import DEFAULT_GUIDES, GuideSpec, parse_guides
from ..guides.auto import AUTO, GuideChoice, choose_guides, is_auto
from ..keyframes import Keyframes, make_keyframes
from ..model.networks import StyleModel
from ..train.fit import check_training_memory, describe_shots, fit_style
from ..train.stream import fit_style_stream
from ..train.progress import TrainProgress
from ..train.warm_start import check_init, steps_total

DEFAULT_GUIDE_LIST = ",".join(("rgb",) + DEFAULT_GUIDES)


def _option(default, help: str, **argument):
    """A TrainOptions field: its default, and its command line option's help (and choices, type, metavar)."""
    return field(default=default, metadata={"help": help, **argument})


@dataclass(frozen=True)
class TrainOptions:
    """The options of training from files, in one place: the command line's `train` options (--patch-size for
    patch_size; cli.add_train_options), a batch manifest's keys (batch.manifest.TRAIN_KEYS) and the ComfyUI
    training nodes' inputs of the same meaning (a test checks the names) are these, with these defaults."""

    preset: str = _option("fast", "network size (default fast)", choices=sorted(PRESETS))
    guides: str = _option(AUTO, "input channels: auto (default: chosen from the keyframes: "
                          f"{DEFAULT_GUIDE_LIST}, plus page for a style fixed on the page; a warm start keeps its "
                          "model's), or rgb plus any of gauss,edges,denoise,warp,page; 'rgb' alone: the frames only, "
                          "any frame size at stylization")
    loss: str = _option("auto", "loss terms (auto: paper for reference, structure otherwise)",
                        choices=["auto", *sorted(LOSS_PRESETS)])
    steps: int = _option(0, "train for this many steps (0: no step limit)", budget=True)
    seconds: float | None = _option(None, "train for this many seconds (default 120, or no time limit when "
                                    "--steps is given)", budget=True, type=float)
    seed: int = _option(0, "seed of the weights, the patches and the guides' blobs (default 0)")
    device: str = _option("auto", f"where to train ({DEVICE_HELP})", choices=list(DEVICES))
    precision: str = _option("auto", "arithmetic (auto: bf16 where the CPU, a CUDA or an xpu GPU runs it fast, "
                                     "else fp32)",
                             choices=list(PRECISIONS))
    threads: int = _option(0, "CPU threads (0: library default)")
    vgg: str = _option("", "VGG19 weights file for the paper's perceptual loss (optional)")
    base: str = _option("auto", "what the network's change is added to: input (the frame), colour (a colour "
                        f"mapping of the frame fitted to the keyframes: faster to learn), auto: {DEFAULT_BASE} "
                        "(default auto)", choices=["auto", *BASES])
    patch_size: int = _option(0, "side of the training patches, all along (0: the preset's: fast and balanced "
                              "train their first 800 steps on 32 at half the learning rate, then 48; reference "
                              "32)", metavar="PX")
    prior: str = _option("auto", "starting weights of a training from scratch: auto (the shipped prior, trained "
                         "on other clips and styles, for the fast preset with the guides auto chooses: gauss,edges "
                         "or gauss,edges,page; random weights for any other network), none (random weights), or a .safetensors model of the same "
                         "network (default auto)", metavar="auto|none|MODEL")
    align: str = _option("auto", "register the keyframes to their frames first: auto (an image-edit model's shift, "
                         "zoom, rotation, stretch or crop is undone and reported, the border it leaves uncovered "
                         "is not learned from; a keyframe that shows other content is refused), off (used as "
                         "given; default auto)", choices=list(ALIGN_MODES))

    def spec(self, choice: GuideChoice | None = None) -> GuideSpec:
        """The guides named, or for guides 'auto' those `choice` made (before the choice: the default guides, what
        the checks made before the keyframes are read assume). Raises GuideError for unknown names."""
        if is_auto(self.guides):
            return GuideSpec(guides=choice.guides if choice is not None else DEFAULT_GUIDES, seed=self.seed)
        return GuideSpec(guides=parse_guides(self.guides), seed=self.seed)

    def config(self) -> TrainConfig:
        seconds = self.seconds if self.seconds is not None else (0.0 if self.steps else 120.0)
        config = TrainConfig(preset=self.preset, loss=self.loss, steps=self.steps or 0, seconds=seconds,
                             seed=self.seed, device=self.device, precision=self.precision, threads=self.threads,
                             vgg_path=self.vgg or "", base=self.base, patch_size=self.patch_size,
                             prior=self.prior)
        config.validate()
        return config


def read_keyframes(source: FrameSource, keyframe_dir: str | Path, mask_dir: str | Path | None,
                   what: tuple[str, str] = ("--keyframes", "--masks"),
                   align: str = "off") -> tuple[Keyframes, list[str]]:
    """Keyframes (and masks) named like the frames -> (Keyframes, notes), as make_keyframes returns them.

    align 'auto': each keyframe (any size; its mask at its size) is registered to its frame first
    (frames.align.align_keyframes), one note per keyframe says what was done; 'off': keyframes at the frames'
    size (or their aspect), as given."""
    if align not in ALIGN_MODES:
        raise ConfigError(f"align: expected one of {list(ALIGN_MODES)}, received {align!r}.")
    stems = source.stems
    shape = torch.zeros(()).expand(len(source), *source.size, 3)  # make_keyframes checks against its shape only
    size = None if align == "auto" else source.size
    styled = images_by_stem(keyframe_dir, stems, size, "keyframes")
    indices = [stems.index(s) for s in styled]
    masks = None
    if mask_dir:
        found = images_by_stem(mask_dir, stems, size, "masks")
        missing = sorted(set(styled) - set(found))
        if missing:
            raise PatchToonError(f"{what[1]}: expected one mask per keyframe, no mask for {missing}. Add "
                                 f"{missing[0]}.png (white = valid style) or leave out {what[1]}.")
        masks = [torch.from_numpy(found[s][..., 0].astype(np.float32) / 255) for s in styled]
    images = [torch.from_numpy(image.astype(np.float32) / 255) for image in styled.values()]
    if align == "off":
        return make_keyframes(indices, torch.stack(images), None if masks is None else torch.stack(masks),
                              frames=shape)
    return make_aligned_keyframes(indices, images, masks, shape, "auto", frames_at=frames_at(source, indices),
                                  names=[f"{what[0]} {name}" for name in styled])


def align_of(model: StyleModel) -> str:
    """How `model`'s keyframes were registered ('auto' or 'off'), for reading them again at stylization (the
    'warp' guide sees them as training did)."""
    reports = model.summary.alignment or []
    return "auto" if any(r.get("action") != "off" for r in reports) else "off"


def train_from_files(frames: str | Path, keyframes: str | Path, masks: str | Path | None, options: TrainOptions,
                     on_progress: Callable[[TrainProgress], None] | None = None,
                     log: Callable[[str], None] | None = None, scratch: str | None = None,
                     on_frames: Callable[[int, int], None] | None = None,
                     init: StyleModel | None = None) -> StyleModel:
    """Train a style model on a clip (folder of frames or video) and its stylized keyframes (a folder of images
    named like their frames; masks likewise, white = valid style). log(line) receives what the user should
    read (sizes, keyframes, notes); on_frames(done, total) follows the pass over the clip before training
    (fit_style_stream). init: a trained model to continue (warm start). Raises FramesError, KeyframeError,
    MaskError, ConfigError, GuideError, WarmStartError."""
    log = log or (lambda line: None)
    choice = init_choice(init) if init is not None and is_auto(options.guides) else None
    spec = options.spec(choice)
    config = options.config()
    source = FrameSource(frames, "--frames")
    stylized = [p for p in Path(keyframes).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    keys = max(len(stylized), 1)
    # Before reading a frame: streamed training holds the keyframes' and the preview's frames (the whole clip
    # for 'warp').
    held = len(source) if spec.needs_keyframe_images else keys + 1
    check_training_memory(held, *source.size, keys, config, spec=spec if spec.guides else None, frames_held=False)
    if init is not None:  # before the frames are read and the guides computed
        check_init(init, config.generator(3 + spec.channels, init.config), spec.to_dict() if spec.guides else None)
        log(f"warm start: continuing {init.source or 'the given model'} ({steps_total(init.summary)} steps)")
    found, notes = read_keyframes(source, keyframes, masks, align=options.align)
    if is_auto(options.guides) and choice is None:
        choice = choose_guides(frames_at(source, found.indices), found.images, found.masks)
        spec = options.spec(choice)
        if spec.needs_keyframe_images:  # the whole clip is read for the 'page' guide's leave-one-out rows
            check_training_memory(len(source), *source.size, keys, config, spec=spec, frames_held=False)
    if choice is not None:
        log(choice.describe())
    log(f"frames: {len(source)} ({source.size[1]}x{source.size[0]}), keyframes: "
        f"{[source.names[i] for i in found.indices]}, guides: {spec.describe()}")
    for note in notes:
        log(f"note: {note}")
    if spec.needs_keyframe_images:  # 'warp' trains leave-one-out on the whole clip's flow
        clip = source.read_all()
        notes = describe_shots(clip, found.indices, spec)
        model = fit_style(clip, found, config, spec, on_progress=on_progress, init=init)
    else:  # only the keyframes' and the preview's frames and guides are kept, whatever the clip's length
        notes = []
        images = (image for _, image in source.images())
        model = fit_style_stream(images, len(source), found, config, spec if spec.guides else None,
                                 on_progress=on_progress, notes=notes, scratch=scratch, on_frames=on_frames,
                                 init=init)
    for note in notes:
        log(f"note: {note}")
    if choice is not None:
        model.summary.guides_auto = choice.to_dict()
    return model


def init_choice(init: StyleModel) -> GuideChoice:
    """`guides: auto` for a warm start: the guides of the model it continues (a warm start needs the same)."""
    names = tuple((init.guides or {}).get("guides", ()))
    return GuideChoice(names, "a warm start keeps the guides of the model it continues")


def frames_at(source: FrameSource, indices) -> torch.Tensor:
    """The frames of `source` at `indices` (ascending), [K, H, W, 3] float32 0..1, read up to the last one."""
    wanted, found = set(indices), {}
    for n, (_, image) in enumerate(source.images()):
        if n in wanted:
            found[n] = image
        if n >= max(wanted):
            break
    missing = sorted(wanted - set(found))
    if missing:
        raise FramesError(f"{source.what}: the clip has fewer frames than its names say; frames {missing} of the "
                          f"keyframes could not be read.")
    return to_tensor([found[i] for i in indices])
