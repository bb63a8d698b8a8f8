"""The guide specification: which frame-consistency guides feed the network, in which order, with which parameters.

One `GuideSpec` is shared by training, inference, the checkpoint metadata and the command line, so that
`stylize` rebuilds exactly the guides a model was trained with. The RGB frame itself is not a guide: the
network always receives it first, then `spec.channels` guide channels in the order of `spec.guides`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..errors import GuideError, shown

# Channels per guide, in the order they are documented in issue 4.
GUIDE_CHANNELS: dict[str, int] = {
    "gauss": 3,    # coloured Gaussian blobs placed at each keyframe and advected along the optical flow
    "edges": 1,    # Sobel edge strength of the (blurred) luminance
    "denoise": 3,  # the input filtered along the flow by a time-aware bilateral filter
    "warp": 3,     # the keyframes' stylizations warped along the flow (needs the stylized keyframes)
    "page": 3,     # fixed in image space: mean, min and max luminance of the stylized keyframes at each pixel
}
KEYFRAME_IMAGE_GUIDES = ("warp", "page")  # made from the stylized keyframes: stylizing needs them again
# Provisional until the benchmark of issue 4 picks the default.
DEFAULT_GUIDES: tuple[str, ...] = ("gauss", "edges")
FLOW_PRESET_NAMES: tuple[str, ...] = ("ultrafast", "fast", "balanced", "medium")


@dataclass(frozen=True)
class GuideSpec:
    """Which guides, in which order, and their parameters. Checkpoints keep `to_dict()`.

    A field added later must default to the old behaviour: `from_dict` fills missing keys with defaults.
    """

    guides: tuple[str, ...] = DEFAULT_GUIDES
    seed: int = 0                 # seeds the Gaussian blobs; same seed, same clip, same keyframes: same guides
    gauss_blobs: int = 64         # blobs per keyframe pattern (over the mask, or the whole frame)
    gauss_radius: float = 0.05    # blob standard deviation as a fraction of sqrt(height * width)
    gauss_chain: bool = True      # later keyframes of a shot inherit the first one's blobs, advected (the same
    #                               object part keeps its guide colour; the first keyframe's mask places them);
    #                               False: each keyframe scatters its own blobs in its own mask
    flow_preset: str = "fast"      # DIS optical flow preset (see flow.FLOW_PRESETS for the measurement)
    flow_scale: int = 0           # flow and advection on a grid this many times coarser (0 = auto: 2 from 192 px)
    detect_cuts: bool = True      # split the clip at hard cuts and never advect across them
    denoise_radius: int = 2       # frames on each side averaged by the temporal denoise guide
    denoise_sigma: float = 0.1    # colour distance (0..1 RGB) at which a neighbour's weight falls to exp(-1/2)
    edge_sigma: float = 1.0       # Gaussian blur in pixels before the Sobel filter; 0 = no blur

    def __post_init__(self) -> None:
        object.__setattr__(self, "guides", tuple(self.guides))
        unknown = [g for g in self.guides if g not in GUIDE_CHANNELS]
        if unknown:
            raise GuideError(f"guides: expected names from {list(GUIDE_CHANNELS)}, received unknown {shown(unknown)}. "
                             f"Check the spelling (e.g. --guides rgb,gauss,edges).")
        if len(set(self.guides)) != len(self.guides):
            raise GuideError(f"guides: each guide may appear once, received {shown(list(self.guides))}.")
        if self.flow_preset not in FLOW_PRESET_NAMES:
            raise GuideError(f"flow_preset: expected one of {list(FLOW_PRESET_NAMES)}, "
                             f"received {shown(self.flow_preset)}.")
        _check_range("gauss_blobs", self.gauss_blobs, 1, 100_000, int)
        _check_range("gauss_radius", self.gauss_radius, 1e-4, 10.0, float)
        _check_range("seed", self.seed, 0, 2**63 - 1, int)
        _check_range("flow_scale", self.flow_scale, 0, 8, int)
        _check_range("denoise_radius", self.denoise_radius, 0, 32, int)
        _check_range("denoise_sigma", self.denoise_sigma, 1e-4, 10.0, float)
        _check_range("edge_sigma", self.edge_sigma, 0.0, 100.0, float)

    @property
    def channels(self) -> int:
        """Number of guide channels G (the RGB frame not counted)."""
        return sum(GUIDE_CHANNELS[g] for g in self.guides)

    @property
    def layout(self) -> tuple[tuple[str, int, int], ...]:
        """(name, start, stop) of each guide's channels in the [T, H, W, G] guide tensor."""
        out, start = [], 0
        for g in self.guides:
            out.append((g, start, start + GUIDE_CHANNELS[g]))
            start += GUIDE_CHANNELS[g]
        return tuple(out)

    @property
    def needs_flow(self) -> bool:
        return any(g in ("gauss", "denoise", "warp") for g in self.guides)

    @property
    def needs_keyframe_images(self) -> bool:
        """True when the stylized keyframes are an input (the `warp` and `page` guides)."""
        return bool(self.keyframe_image_guides)

    @property
    def keyframe_image_guides(self) -> tuple[str, ...]:
        """The guides made from the stylized keyframes, in channel order."""
        return tuple(g for g in self.guides if g in KEYFRAME_IMAGE_GUIDES)

    def say_keyframe_image_guides(self) -> str:
        """Those guides in words, e.g. "the 'warp' guide", "the 'warp' and 'page' guides"."""
        names = self.keyframe_image_guides
        return f"the {' and '.join(repr(n) for n in names)} guide{'s' if len(names) > 1 else ''}"

    def describe(self) -> str:
        """The command-line form, e.g. 'rgb,gauss,edges'."""
        return ",".join(("rgb",) + self.guides)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["guides"] = list(self.guides)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GuideSpec":
        """Inverse of to_dict. Unknown keys are refused by name; missing keys take their defaults."""
        if not isinstance(d, dict):
            raise GuideError(f"guide spec: expected a dict (from GuideSpec.to_dict), received {type(d).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise GuideError(f"guide spec: unknown keys {unknown}: written by a newer patch-toon? "
                             f"Known keys are {sorted(known)}. Update patch-toon to use this model.")
        d = dict(d)
        if "guides" in d:
            if isinstance(d["guides"], str):
                d["guides"] = parse_guides(d["guides"])
            if not isinstance(d["guides"], (list, tuple)) or not all(isinstance(g, str) for g in d["guides"]):
                raise GuideError(f"guides: expected a list of guide names from {list(GUIDE_CHANNELS)}, received "
                                 f"{shown(d['guides'])}.")
            d["guides"] = tuple(d["guides"])
        return cls(**d)


def parse_guides(text: str) -> tuple[str, ...]:
    """'rgb,gauss,edges,denoise' -> ('gauss', 'edges', 'denoise'): the guide names in channel order.

    'rgb' is accepted anywhere and dropped: the frame is always the network's first input. '' and 'none'
    (or 'rgb' alone) mean no guides. Raises GuideError on unknown or repeated names.
    """
    if not isinstance(text, str):
        raise GuideError(f"guides: expected a comma-separated string such as 'rgb,gauss,edges', "
                         f"received {type(text).__name__}.")
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    names = [n for n in names if n not in ("rgb", "none")]
    unknown = [n for n in names if n not in GUIDE_CHANNELS]
    if unknown:
        raise GuideError(f"guides: expected a comma-separated list of {['rgb'] + list(GUIDE_CHANNELS)}, "
                         f"received unknown {shown(unknown)} in {shown(text)}. Example: --guides rgb,gauss,edges")
    if len(set(names)) != len(names):
        raise GuideError(f"guides: each guide may appear once, received {text!r}.")
    return tuple(names)


def _check_range(name: str, value, lo, hi, kind) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or not lo <= value <= hi:
        raise GuideError(f"{name}: expected {'an integer' if kind is int else 'a number'} from {lo} to {hi}, "
                         f"received {shown(value)}.")
