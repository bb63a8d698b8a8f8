"""Random training patches from the keyframes (only where the mask marks the style valid)."""
from __future__ import annotations

import torch


class PatchSampler:
    """Draws batches of aligned (input, target, mask) patches from keyframes.

    inputs: [K, C, H, W] frame + guides at the keyframes; targets: [K, 3, H, W] stylized keyframes;
    masks: [K, 1, H, W] or None. All on the training device. Patches whose centre lies where the mask is
    below 0.5 are never drawn. Randomness comes only from `generator` (a seeded torch.Generator on the CPU).
    """

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor | None,
                 patch_size: int, generator: torch.Generator):
        k, _, h, w = inputs.shape
        self.inputs, self.targets, self.masks = inputs, targets, masks
        self.patch = min(patch_size, h, w)
        self.generator = generator
        p = self.patch
        # Candidate top-left corners: all of them, or those whose patch centre is valid in the mask.
        if masks is None:
            self.corners = None
            self.limits = (k, h - p + 1, w - p + 1)
        else:
            valid = masks[:, 0, p // 2: h - p + p // 2 + 1, p // 2: w - p + p // 2 + 1] >= 0.5
            self.corners = valid.nonzero().cpu()  # [N, 3] (k, y, x)
            if len(self.corners) == 0:
                raise ValueError("masks leave no valid patch position")

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """A batch of patches: inputs [B, C, P, P], targets [B, 3, P, P], masks [B, 1, P, P] or None."""
        if self.corners is None:
            k, hy, hx = self.limits
            ks = torch.randint(k, (batch,), generator=self.generator)
            ys = torch.randint(hy, (batch,), generator=self.generator)
            xs = torch.randint(hx, (batch,), generator=self.generator)
        else:
            pick = torch.randint(len(self.corners), (batch,), generator=self.generator)
            ks, ys, xs = self.corners[pick].unbind(1)
        return (self._gather(self.inputs, ks, ys, xs), self._gather(self.targets, ks, ys, xs),
                None if self.masks is None else self._gather(self.masks, ks, ys, xs))

    def _gather(self, source: torch.Tensor, ks, ys, xs) -> torch.Tensor:
        p = self.patch
        return torch.stack([source[k, :, y:y + p, x:x + p] for k, y, x in zip(ks.tolist(), ys.tolist(), xs.tolist())])
