"""Starting weights for a cold start: the shipped prior.

A prior is an ordinary patch_training checkpoint whose weights a training run starts from instead of random ones
(it then trains exactly as from scratch: the same schedule, small patches first, the same learning rate). The
ones shipped in `priors/` were trained by `benchmarks/train_prior.py` on clips that no benchmark scores, stylized
by filters written there, one per preset and guide set that `guides: auto` chooses, at the default base:
`fast-gauss-edges`, `fast-gauss-edges-page`, `balanced-gauss-edges`, `balanced-gauss-edges-page`. Any other
network (`reference`, another base, other guides) starts from random weights, as before.

"auto": the shipped prior that fits the network and guides, else random weights; "none": random weights; a
path: that model, which must fit (ConfigError says what differs).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError
from ..config import GeneratorConfig, preset_name
from .networks import StyleModel

SHIPPED = Path(__file__).resolve().parent / "priors" / "fast-gauss-edges.safetensors"  # the default network's


def shipped_priors() -> list[Path]:
    """The prior files shipped with the library, default first."""
    return sorted(SHIPPED.parent.glob("*.safetensors"), key=lambda p: (p != SHIPPED, p.name))


def resolve_prior(choice: str, network: GeneratorConfig, guide_spec: dict | None) -> StyleModel | None:
    """The model whose weights a cold start of `network` with `guide_spec` begins from, or None (random)."""
    from .checkpoint import load_model
    if choice == "none":
        return None
    if choice == "auto":  # none fits another network or guide set: random weights, as always
        return next((prior for path in shipped_priors() if fits(prior := _shipped(path), network, guide_spec)),
                    None)
    prior = load_model(choice)
    if not fits(prior, network, guide_spec):

        def say(config: GeneratorConfig, spec: dict | None) -> str:
            guides = list((spec or {}).get("guides", [])) or "none"
            return f"preset '{preset_name(config)}', base '{config.base}', guides {guides}"
        raise ConfigError(f"prior: {choice} is a model of {say(prior.config, prior.guides)}; this training builds "
                          f"{say(network, guide_spec)}. Give a prior trained for this network and guides, or set "
                          f"prior to 'auto' or 'none'.")
    return prior


def fits(prior: StyleModel, network: GeneratorConfig, guide_spec: dict | None) -> bool:
    """The same network and the same guides in the same order. Unlike a warm start, the guides' settings (flow
    preset, seed of the Gaussian blobs) may differ: a prior is a starting point, trained on many settings' worth of
    clips, not a model of this clip."""
    trained = list((prior.guides or {}).get("guides", []))
    return prior.config == network and trained == list((guide_spec or {}).get("guides", []))


@lru_cache(maxsize=4)
def _shipped(path: Path) -> StyleModel:
    """A shipped prior, read once per process (a training copies its weights, never changes them)."""
    from .checkpoint import load_model
    return load_model(path)


def prior_name(choice: str, prior: StyleModel | None) -> str:
    """What the summary records: "" (random weights), "shipped" (the default network's), "shipped <name>" (another
    shipped prior, e.g. "shipped fast-gauss-edges-page"), or the file given."""
    if prior is None:
        return ""
    if choice != "auto":
        return Path(choice).name
    path = next((path for path in shipped_priors() if _shipped(path) is prior), SHIPPED)
    return "shipped" if path == SHIPPED else f"shipped {path.stem}"
