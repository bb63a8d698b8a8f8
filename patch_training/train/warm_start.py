"""Warm start: continuing training from a trained model instead of random weights.

What must match (the network and the guide layout: `check_init`), the record a checkpoint keeps of it
(`warm_start_record`), the learning rate of a continued run (`learning_rate`), and the small memory of the last
model each ComfyUI training node made (`WarmStartCache`), which the node continues from when only its keyframes
changed.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from collections import OrderedDict

import torch

from ..config import GeneratorConfig, TrainConfig, preset_name
from ..errors import WarmStartError, shown
from ..model.networks import StyleModel
from ..model.summary import TrainSummary

# Learning rate of a warm start, as a fraction of the preset's: a cosine from WARM_LR_SCALE x the base rate down
# to the 0.1 x where a cold run ends. Chosen by benchmarks/warm_start.py (benchmarks/RESULTS.md, Warm start): a restart at the
# full rate (1.0) first undoes much of what was learned (paper-craft clip, 2 s: 15.2 dB vs 16.8 at 0.3) and
# needed 10 s to reach a fresh run's 120 s quality where 0.3 needed 2-5 s; 0.1 reached it as fast but then
# gained less (30 s: 0.550 SSIM vs 0.553).
WARM_LR_SCALE = 0.3
# Whether a model keeps Adam's state (its moments) for a warm start to continue; chosen by the same benchmark:
# at WARM_LR_SCALE it reached a fresh run's quality no sooner than a fresh optimizer (2 s and 5 s either way;
# it only softens a restart at the full rate), so checkpoints stay weights only and the node keeps 1 MB, not 3.
KEEP_OPTIMIZER_STATE = False
COLD_END = 0.1  # a cold run's cosine ends at 0.1 x the base rate
FROM_SCRATCH = "or train from scratch (no --init; in ComfyUI: init_model unconnected, warm_start off)"


def learning_rate(base: float, fraction: float, warm: bool, reference: bool = False) -> float:
    """The rate at `fraction` (0..1) of the budget: a cosine from base (cold) or WARM_LR_SCALE x base (warm) down
    to COLD_END x base. reference: the paper's constant rate, warm or cold."""
    if reference:
        return base
    cosine = 0.5 * (1 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))  # 1 -> 0
    if not warm:
        return base * (COLD_END + (1 - COLD_END) * cosine)  # the rate of earlier versions, bit for bit
    return base * (COLD_END + (WARM_LR_SCALE - COLD_END) * cosine)


def check_init(init: StyleModel, network: GeneratorConfig, guide_spec: dict | None) -> None:
    """Raise WarmStartError unless training `network` with the guides `guide_spec` (None: RGB only) can start
    from `init`'s weights: the same architecture, the same guides in the same order, made the same way."""
    if not isinstance(init, StyleModel):
        raise WarmStartError(f"init model: expected a patch-toon style model (Train Patch Model, Load Patch Model, "
                             f"a .safetensors file of `train`), received {type(init).__name__}.")
    given_guides = dict(guide_spec or {})
    trained = list(init.guides.get("guides", [])) if init.guides else []
    wanted = list(given_guides.get("guides", []))
    if trained != wanted:
        def say(names):
            return f"guides {names}" if names else "the frames alone (RGB, no guides)"
        raise WarmStartError(f"init model: it was trained on {say(trained)}, this training gives {say(wanted)}. "
                             f"Give the same guides as for that model (Compute Guides, --guides), {FROM_SCRATCH}.")
    if init.config != network and dataclasses.replace(init.config, base=network.base) == network:
        raise WarmStartError(f"init model: its network adds its change to the base {init.config.base!r}, this "
                             f"training uses {network.base!r}. Set base to {init.config.base!r} (--base, Train "
                             f"Patch Model (Advanced)'s base) or 'auto' to continue it, {FROM_SCRATCH}.")
    if init.config != network:
        fields = [f.name for f in dataclasses.fields(network)
                  if getattr(init.config, f.name) != getattr(network, f.name)]
        detail = ", ".join(f"{k}: model {shown(_plain(getattr(init.config, k)))}, training "
                           f"{shown(_plain(getattr(network, k)))}" for k in fields)
        raise WarmStartError(f"init model: its network is preset '{preset_name(init.config)}', this training uses "
                             f"'{preset_name(network)}' ({detail}). Set preset to '{preset_name(init.config)}' to "
                             f"continue it, {FROM_SCRATCH}.")
    if wanted:
        made, given = _spec(init.guides), _spec(given_guides)
        differ = sorted(k for k in set(made) | set(given) if made.get(k) != given.get(k))
        if differ:
            detail = ", ".join(f"{k}: model {shown(made.get(k))}, training {shown(given.get(k))}" for k in differ)
            raise WarmStartError(f"init model: its guides were made with other settings ({detail}); the network "
                                 f"learned their colours and edges. Set the guides as for that model (for --init, "
                                 f"the same --seed), {FROM_SCRATCH}.")


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _spec(guides: dict) -> dict:
    from ..guides import GuideSpec  # the spec with its defaults filled in, as both sides compare it
    return GuideSpec.from_dict(guides).to_dict()


def weights_sha256(model: StyleModel) -> str:
    """A content hash of the model's weights (names, dtypes, shapes, values), independent of its metadata: the
    same weights give the same hash whether in memory or in a file, and `info` prints it."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.generator.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{list(value.shape)};".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def steps_total(summary: TrainSummary) -> int:
    """Training steps behind a model, warm starts included."""
    record = summary.warm_start
    if isinstance(record, dict) and isinstance(record.get("steps_total"), int):
        return record["steps_total"]
    steps = summary.steps or 0
    return steps if isinstance(steps, int) else 0


def warm_start_record(init: StyleModel, steps: int, optimizer_state: bool, lr_scale: float) -> dict:
    """What a checkpoint says of its warm start: the model it continued (file name when known, weights hash),
    the steps before and in all, whether Adam's state was continued, and the learning rate's start (x base)."""
    before = steps_total(init.summary)
    return {"from": init.source or "", "from_sha256": weights_sha256(init), "steps_before": before,
            "steps_total": before + steps, "optimizer_state": optimizer_state, "learning_rate_scale": lr_scale}


def load_init(generator: torch.nn.Module, init: StyleModel) -> None:
    """Copy init's weights (and batch-norm statistics) into a freshly built generator of the same architecture."""
    generator.load_state_dict({k: v.detach().clone() for k, v in init.generator.state_dict().items()})


# ------------------------------------------------------------------ the last model of each training node

def clip_fingerprint(frames: torch.Tensor) -> str:
    """A cheap fingerprint of a clip [T, H, W, 3]: its shape and every 8th pixel of every 8th row of each frame
    (a 1080p clip of 300 frames: about 0.1 s). Another clip, a trimmed or resized one, differs."""
    sample = (frames[:, ::8, ::8].float().clamp(0, 1) * 255).round().to(torch.uint8).contiguous()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(tuple(frames.shape)).encode())
    digest.update(sample.numpy().tobytes())
    return digest.hexdigest()


def settings_key(frames: torch.Tensor, config: TrainConfig, guide_spec: dict | None) -> str:
    """What must be unchanged for a training node to continue its last model: the clip and every setting that
    shapes the network or what it learns (preset, base, guides, loss, batch, patch, learning rate, precision, seed).
    The budget (seconds, steps) and the keyframes may change."""
    settings = {"preset": config.preset, "loss": config.resolved_loss().to_dict(), "batch": config.resolved_batch(),
                "patch": config.resolved_patch(), "lr": config.resolved_lr(), "precision": config.precision,
                "seed": config.seed, "guides": guide_spec or {}, "base": config.base}
    return clip_fingerprint(frames) + ":" + hashlib.blake2b(json.dumps(settings, sort_keys=True).encode(),
                                                             digest_size=16).hexdigest()


def snapshot(model: StyleModel, source: str) -> StyleModel:
    """A CPU copy of `model` to continue from later: weights, Adam's state (if kept), summary, guides; no images."""
    copied = StyleModel(copy.deepcopy(model.generator).cpu(), model.config, model.guides, model.summary.copy(),
                        guide_masks=model.guide_masks)
    copied.optimizer_state = copy.deepcopy(model.optimizer_state) if KEEP_OPTIMIZER_STATE else None
    copied.source = source
    return copied


class WarmStartCache:
    """The last model each training node made (by node id), to continue from when the node runs again on the same
    clip with the same settings (settings_key). Small by construction: one model per node, at most `size` nodes
    (the least recently used goes first), on the CPU; a 'fast' model is about 1 MB, 'reference' 13 MB."""

    def __init__(self, size: int = 4):
        self.size = size
        self._entries: OrderedDict[str, tuple[str, StyleModel]] = OrderedDict()

    def get(self, node: str, key: str) -> StyleModel | None:
        """The node's last model if it was made with the same `key`, else None (and the stale one is dropped)."""
        entry = self._entries.get(str(node))
        if entry is None:
            return None
        if entry[0] != key:
            del self._entries[str(node)]
            return None
        self._entries.move_to_end(str(node))
        return entry[1]

    def put(self, node: str, key: str, model: StyleModel) -> None:
        self._entries[str(node)] = (key, snapshot(model, f"the previous run of training node {node}"))
        self._entries.move_to_end(str(node))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
