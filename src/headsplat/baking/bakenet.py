"""FATE's BakeNet (Zhang et al., CVPR 2025, §3.3 and supplementary §7.3): a U-Net that maps fixed
Gaussian noise to UV attribute maps. The maps are its output, not free texels: the convolutions'
inductive bias makes them smooth and fills texels no Gaussian reads, which is what makes them
editable like a texture.

Each material's square atlas tile (:mod:`headsplat.avatar.gaussians.uv_atlas`) is one image of the
batch, so no convolution mixes two materials across a tile border.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _block(inputs: int, outputs: int) -> nn.Sequential:
    """Two 3x3 convolutions, each normalised (GroupNorm) and SiLU, at the input's resolution.

    Without the normalisation the noise's signal shrinks through the default-initialised layers
    and the output starts and stays nearly uniform: the fit loss stayed at a constant map's at any
    rate (deep image prior normalises too; measurements: docs/quality.md, section
    "`baking.bakenet._block`")."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1),
        nn.GroupNorm(min(8, outputs), outputs),
        nn.SiLU(),
        nn.Conv2d(outputs, outputs, 3, padding=1),
        nn.GroupNorm(min(8, outputs), outputs),
        nn.SiLU(),
    )


class BakeNet(nn.Module):
    """U-Net from noise (B, noise_channels, R, R) to maps (B, outputs, R, R), R a multiple of
    2^(levels - 1).

    Args:
        outputs: map channels. channels: width of each level, finest first (FATE at 512 px:
            64, 128, 256, 512, 1024). noise_channels: the input's channels.
    """

    def __init__(self, outputs: int, channels: tuple[int, ...] = (16, 32, 64, 128), noise_channels: int = 8):
        super().__init__()
        self.noise_channels = noise_channels
        self.down = nn.ModuleList()
        width = noise_channels
        for level, c in enumerate(channels):
            self.down.append(
                _block(width, c) if level == 0 else nn.Sequential(nn.AvgPool2d(2), _block(width, c))
            )
            width = c
        self.up = nn.ModuleList()
        for c in reversed(channels[:-1]):
            self.up.append(nn.ModuleDict({"lift": nn.Conv2d(width, c, 1), "mix": _block(2 * c, c)}))
            width = c
        self.out = nn.Conv2d(width, outputs, 1)
        nn.init.zeros_(self.out.weight)  # the maps start at the decoder's centre (the statistics' mean)
        nn.init.zeros_(self.out.bias)

    @property
    def multiple(self) -> int:
        """The map side must be a multiple of this."""
        return 2 ** (len(self.down) - 1)

    def forward(self, noise: Tensor) -> Tensor:
        skips = []
        x = noise
        for block in self.down:
            x = block(x)
            skips.append(x)
        for stage, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = nn.functional.interpolate(
                stage["lift"](x), scale_factor=2.0, mode="bilinear", align_corners=False
            )
            x = stage["mix"](torch.cat([x, skip], dim=1))
        return self.out(x)


def fixed_noise(tiles: int, channels: int, resolution: int, seed: int) -> Tensor:
    """(tiles, channels, R, R) standard normal noise, the same for a seed on every machine."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(tiles, channels, resolution, resolution, generator=generator)
