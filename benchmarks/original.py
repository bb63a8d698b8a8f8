"""The original implementation's training step and generator, re-implemented for the baseline only.

Written from reading Texler et al.'s public code (models.py, trainers.py, reference_P.yaml): the same
layers, and the same work per step as the original does it: the stride-2 conv2 evaluated twice per
generator pass, the generator run twice per step (once for the discriminator's loss, once for the
generator's), VGG19 features of output and target, L1 x4 + perceptual x6 + adversarial x0.5 (MSE),
Adam 4e-4 with weight decay 1e-5, batch 40 patches of 32x32, float32. Data loading is not included
(the original's DataLoader adds to its time): the comparison is of the training step's computation.
"""
from __future__ import annotations

import torch
from torch import nn

from patch_training import PRESETS
from patch_training.model.networks import PatchDiscriminator, TexlerGenerator


class OriginalGenerator(TexlerGenerator):
    """GeneratorJ's forward pass as the original computes it, including its duplicated conv2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x in -1..1, output in -1..1 (tanh)
        out0 = self.conv0(x)
        out1 = self.conv1(out0)
        out = self.conv2(out1)
        out2 = self.conv2(out1)  # the original's second, identical evaluation
        for block in self.resnets:
            out = block(out)
        out = self.upconv2(torch.cat((out, out2), 1))
        out = self.upconv1(torch.cat((out, out1), 1))
        out = self.conv_11(torch.cat((out, out0, x), 1))
        return torch.tanh(self.conv_12(self.smoothers(out)))


def vgg_layers() -> nn.Sequential:
    """VGG19 features 0..5 (conv1_1, relu, conv1_2, relu, pool, conv2_1): what the paper's layers 0, 3, 5 need.
    Weights are random (none can be downloaded); the cost per step is the same as with trained weights."""
    return nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1), nn.ReLU(), nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU(),
                         nn.MaxPool2d(2, 2), nn.Conv2d(64, 128, 3, 1, 1))


def vgg_features(vgg: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    feats, h = [], x
    for i, layer in enumerate(vgg):
        h = layer(h)
        if i in (0, 3, 5):
            feats.append(h.reshape(h.shape[0], -1))
    return torch.cat(feats, 1)


class OriginalTrainer:
    """One object holding the original's networks and optimisers; step() is one training iteration."""

    def __init__(self, seed: int = 0):
        torch.manual_seed(seed)
        self.generator = OriginalGenerator(PRESETS["reference"])
        self.discriminator = PatchDiscriminator()
        self.vgg = vgg_layers().requires_grad_(False).eval()
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=4e-4, betas=(0.9, 0.999), weight_decay=1e-5)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=4e-4, betas=(0.9, 0.999), weight_decay=1e-5)
        self.mse, self.l1 = nn.MSELoss(), nn.L1Loss()

    def step(self, pre: torch.Tensor, post: torch.Tensor) -> float:
        """pre, post: [40, 3, 32, 32] in -1..1 (the original's data range)."""
        self.generator.train()
        self.discriminator.train()
        # discriminator: its own generator pass
        self.opt_d.zero_grad()
        fake = self.generator(pre)
        d_fake = self.discriminator.net(fake.detach())
        d_real = self.discriminator.net(post)
        d_loss = self.mse(d_fake, torch.zeros_like(d_fake)) + self.mse(d_real, torch.ones_like(d_real))
        d_loss.backward()
        self.opt_d.step()
        # generator: a second generator pass
        self.opt_g.zero_grad()
        generated = self.generator(pre)
        image_loss = self.l1(generated, post)
        perception_loss = ((vgg_features(self.vgg, generated) - vgg_features(self.vgg, post)) ** 2).mean()
        pred = self.discriminator.net(generated)
        adversarial_loss = self.mse(pred, torch.ones_like(pred))
        loss = 4.0 * image_loss + 6.0 * perception_loss + 0.5 * adversarial_loss
        loss.backward()
        self.opt_g.step()
        return float(loss)
