"""Encoder and decoder networks: an MLP and a small convolutional pair, both on flat 784-vectors."""

from __future__ import annotations

from torch import nn


class _Unflatten(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(x.shape[0], *self.shape)


def encoder_net(arch: str, side: int, hidden: int, latent_dim: int) -> nn.Module:
    """Maps (B, side*side) inputs to (B, 2*latent_dim): the mean and log-variance of q(z|x)."""
    pixels = side * side
    if arch == "mlp":
        return nn.Sequential(
            nn.Linear(pixels, hidden),
            nn.LeakyReLU(),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(),
            nn.Linear(hidden, 2 * latent_dim),
        )
    if arch == "conv":
        quarter = side // 4
        return nn.Sequential(
            _Unflatten(1, side, side),
            nn.Conv2d(1, 32, 4, stride=2, padding=1),
            nn.LeakyReLU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1),
            nn.LeakyReLU(),
            nn.Flatten(),
            nn.Linear(64 * quarter * quarter, hidden),
            nn.LeakyReLU(),
            nn.Linear(hidden, 2 * latent_dim),
        )
    raise ValueError(f"unknown architecture {arch!r}")


def decoder_net(arch: str, side: int, hidden: int, latent_dim: int, values: int) -> nn.Module:
    """Maps (B, latent_dim) to (B, side*side*values) logits (values = 1 for Bernoulli pixels)."""
    pixels = side * side
    if arch == "mlp":
        return nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.LeakyReLU(),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(),
            nn.Linear(hidden, pixels * values),
        )
    if arch == "conv":
        quarter = side // 4
        return nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.LeakyReLU(),
            nn.Linear(hidden, 64 * quarter * quarter),
            nn.LeakyReLU(),
            _Unflatten(64, quarter, quarter),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),
            nn.LeakyReLU(),
            nn.ConvTranspose2d(32, values, 4, stride=2, padding=1),
            # (B, values, side, side) -> (B, side*side*values), pixel-major
            _PixelMajor(),
        )
    raise ValueError(f"unknown architecture {arch!r}")


class _PixelMajor(nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
