"""Head-like random scenes: the workload the rasterizer is benchmarked and tested on."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Scene:
    """Gaussians and one camera, in the argument order of :func:`headsplat.render.rasterize`."""

    means: Tensor  # (N, 3)
    quats: Tensor  # (N, 4) w first
    scales: Tensor  # (N, 3) linear
    opacities: Tensor  # (N,)
    colors: Tensor  # (N, 3)
    K: Tensor  # (3, 3)
    viewmat: Tensor  # (4, 4) world to camera, OpenCV
    width: int
    height: int

    def tensors(self) -> list[Tensor]:
        """The Gaussian parameters, the ones an optimiser would train."""
        return [self.means, self.quats, self.scales, self.opacities, self.colors]


def head_scene(
    n: int,
    size: int,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    overlap: float = 1.0,
) -> Scene:
    """``n`` Gaussians covering an ellipsoidal head (semi-axes 8 x 11 x 10 cm, metres),
    seen from 60 cm by a ``size x size`` pinhole camera whose image the head fills to ~70 %.

    Like a trained avatar: surface-bound Gaussians whose footprint is ``overlap`` times the
    mean spacing (log-normal spread), random orientations, opacities in [0.2, 1], random
    colours. Back-facing Gaussians stay in the scene, as they do in an avatar.
    """
    gen = torch.Generator().manual_seed(seed)
    semi_axes = torch.tensor([0.08, 0.11, 0.10], dtype=torch.float64)
    directions = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen, dtype=torch.float64), dim=1)
    means = directions * semi_axes
    area = 4 * math.pi * (semi_axes.prod() ** (2 / 3)).item()  # sphere of equal volume
    spacing = math.sqrt(area / n)
    scales = overlap * spacing * torch.exp(0.4 * torch.randn(n, 3, generator=gen, dtype=torch.float64))
    quats = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    opacities = 0.2 + 0.8 * torch.rand(n, generator=gen, dtype=torch.float64)
    colors = torch.rand(n, 3, generator=gen, dtype=torch.float64)
    distance = 0.6
    focal = 0.7 * size * distance / (2 * semi_axes[1].item())
    K = torch.tensor([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]], dtype=torch.float64)
    viewmat = torch.eye(4, dtype=torch.float64)
    viewmat[2, 3] = distance
    return Scene(
        *(t.to(dtype) for t in (means, quats, scales, opacities, colors, K, viewmat)),
        width=size,
        height=size,
    )
