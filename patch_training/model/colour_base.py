"""The colour-matched base of a residual generator: a quadratic colour mapping of the frame, fitted to the keyframes.

A residual U-Net predicts a change of its base. With the frame itself as the base (the default of earlier versions)
the first steps of training go into moving every colour to the style's; with a base that already maps the frame's
colours to the keyframes' (fitted in closed form before training), the steps go into texture and structure.
"""
from __future__ import annotations

import torch

# r, g, b, r^2, g^2, b^2, rg, rb, gb, 1
FEATURES = 10
RIDGE = 1e-5      # relative to the mean diagonal of the normal equations: keeps rare colours near the identity
MAX_PIXELS = 1 << 18  # pixels the fit reads (evenly strided over the keyframes): enough for 30 numbers


def colour_features(rgb: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] -> [N, FEATURES, H, W] (the quadratic monomials of the colour, and a constant)."""
    r, g, b = rgb.unbind(1)
    return torch.stack((r, g, b, r * r, g * g, b * b, r * g, r * b, g * b, torch.ones_like(r)), 1)


def identity_map() -> torch.Tensor:
    """The mapping that returns the colour unchanged: [FEATURES, 3]."""
    m = torch.zeros(FEATURES, 3)
    m[0, 0] = m[1, 1] = m[2, 2] = 1.0
    return m


def apply_map(rgb: torch.Tensor, mapping: torch.Tensor) -> torch.Tensor:
    """The mapped colours of rgb [N, 3, H, W] (float32 whatever the autocast), clamped to 0..1.

    Evaluated term by term (factored like Horner's rule), never as the [N, FEATURES, H, W] feature stack: at
    stylization a tile then holds a few [N, 3, H, W] temporaries, as the rest of the network does. No gradient:
    the mapping is fitted before training and the frame is an input.
    """
    with torch.no_grad(), torch.autocast(rgb.device.type, enabled=False):
        x, m = rgb.float(), mapping.float()
        r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        c = [m[i].view(1, 3, 1, 1) for i in range(FEATURES)]  # rows in colour_features' order
        out = c[9] + r * (c[0] + r * c[3] + g * c[6] + b * c[7]) + g * (c[1] + g * c[4] + b * c[8]) \
            + b * (c[2] + b * c[5])
        return out.clamp_(0, 1)


def fit_map(inputs: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
    """Least-squares (ridge towards the identity) mapping [FEATURES, 3] from inputs [K, 3, H, W] to targets
    [K, 3, H, W] (0..1), over pixels where masks [K, 1, H, W] >= 0.5 (None: all). Deterministic."""
    x = colour_features(inputs.float().cpu()).permute(0, 2, 3, 1).reshape(-1, FEATURES).double()
    y = targets.float().cpu().permute(0, 2, 3, 1).reshape(-1, 3).double()
    if masks is not None:
        keep = masks.float().cpu().reshape(-1) >= 0.5
        x, y = x[keep], y[keep]
    if len(x) == 0:
        return identity_map()
    stride = max(1, len(x) // MAX_PIXELS)
    x, y = x[::stride], y[::stride]
    gram = x.T @ x / len(x)
    lam = RIDGE * float(gram.diagonal().mean())
    prior = identity_map().double()
    mapping = torch.linalg.solve(gram + lam * torch.eye(FEATURES, dtype=gram.dtype),
                                 x.T @ y / len(x) + lam * prior)
    return mapping.float()
