"""The avatar: Gaussians bound to the personalised head mesh in UV space, rendered per frame.

Gaussian entries of the parameter store (all (N, ...)):

=================  =======  ===============================================================
``triangle``        int      binding triangle (not learned)
``bary``            (N, 3)   barycentric point on it (not learned)
``offset``          (N, 1)   distance along the normal, in mean edge lengths (tanh-bounded)
``rotation``        (N, 4)   quaternion in the triangle frame, w first
``log_scale``       (N, 3)   log scale relative to the triangle's mean edge length
``opacity``         (N, 1)   logit
``sh0``             (N, 3)   degree-0 spherical-harmonic colour (RGB = 0.5 + C0 * sh0)
=================  =======  ===============================================================
"""

from __future__ import annotations

import numpy as np
import torch

from headsplat.avatar.gaussians.binding import bind, face_frames
from headsplat.avatar.gaussians.store import Params
from headsplat.avatar.gaussians.uv_sampling import UVSamples

SH_C0 = 0.28209479177387814  # Y_0^0, as in 3DGS
LEARNED = ("offset", "rotation", "log_scale", "opacity", "sh0")


def rgb_to_sh0(rgb: torch.Tensor) -> torch.Tensor:
    return (rgb - 0.5) / SH_C0


def sh0_to_rgb(sh0: torch.Tensor) -> torch.Tensor:
    return (0.5 + SH_C0 * sh0).clamp_min(0.0)


def initial_gaussians(
    samples: UVSamples,
    neutral_vertices: torch.Tensor,
    triangles: torch.Tensor,
    texels_per_cm: torch.Tensor,
    opacity: float = 0.9,
    flatness: float = 0.3,
) -> Params:
    """One Gaussian per UV sample: on the surface, disc-shaped, as wide as its texel.

    Args:
        samples: UV samples. neutral_vertices: (V, 3) mesh the sizes are measured on.
        texels_per_cm: (N,) sampling density at each sample (sets the initial width).
        flatness: thickness along the normal relative to the width.
    """
    triangle = torch.from_numpy(samples.points.triangle)
    n = len(triangle)
    edge = face_frames(neutral_vertices, triangles).scale[triangle]
    width = 1.0 / texels_per_cm / edge  # texel spacing in mean edge lengths
    log_scale = torch.log(torch.stack([width, width, flatness * width], dim=-1))
    return {
        "triangle": triangle,
        "bary": torch.from_numpy(samples.points.bary),
        "offset": torch.nn.Parameter(torch.zeros(n, 1)),
        "rotation": torch.nn.Parameter(torch.tensor([1.0, 0.0, 0.0, 0.0]).repeat(n, 1)),
        "log_scale": torch.nn.Parameter(log_scale.float()),
        "opacity": torch.nn.Parameter(torch.full((n, 1), float(np.log(opacity / (1 - opacity))))),
        "sh0": torch.nn.Parameter(torch.zeros(n, 3)),
    }


def world_gaussians(params: Params, vertices: torch.Tensor, triangles: torch.Tensor, max_offset: float = 0.5):
    """Means, quats, scales, opacities (N,) and RGB colours (N, 3) on a posed mesh (V, 3)."""
    offset = max_offset * torch.tanh(params["offset"])
    world = bind(
        vertices,
        triangles,
        params["triangle"],
        params["bary"],
        offset,
        params["rotation"],
        params["log_scale"],
    )
    opacities = torch.sigmoid(params["opacity"][:, 0])
    return world.means, world.quats, world.scales, opacities, sh0_to_rgb(params["sh0"])
