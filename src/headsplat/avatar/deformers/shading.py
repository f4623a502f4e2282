"""Shading that follows the head's turns: the Gaussians' colours are albedos lit by one smooth,
learned light that stays with the camera, so a cheek that turns away from the lamp darkens.

In a monocular clip the lights stay put while the head turns; a Gaussian's baked colour is then
right at one pose and wrong at the others, and the image loss averages the poses into a blur. Here
each colour is ``albedo * (1 + sum_k c_k Y_k(n))``: ``n`` the normal of the Gaussian's triangle in
the frame of the camera rendering it (the training camera's is the world's; a turntable camera
lights the side it looks at as the clip's camera lit the face), ``Y_k`` the real spherical
harmonics of degree 1 to ``degree`` and ``c`` (K, 3) learned per channel, shared by every
Gaussian. Degree 2 (8 coefficients per channel) holds a distant light's Lambertian irradiance to
within a few percent (Ramamoorthi and Hanrahan, "An Efficient Representation for Irradiance
Environment Maps", SIGGRAPH 2001); the constant term is the albedo's. The light is global, not per
Gaussian, so it cannot memorise frames and carries over to poses the clip never showed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from headsplat.avatar.deformers.base import (
    BuildContext,
    DeformContext,
    GaussianDeformer,
    register_gaussian_deformer,
)
from headsplat.avatar.gaussians.binding import face_frames
from headsplat.avatar.gaussians.store import GaussianSet
from headsplat.avatar.modules import ParamGroup


@dataclass
class ShadingConfig:
    degree: int = 2
    """Highest spherical-harmonic degree of the light (1 or 2)."""
    lr: float = 2e-3
    """Adam's rate for the light's coefficients."""


def sh_basis(normals: Tensor, degree: int) -> Tensor:
    """(N, K) real spherical harmonics of degrees 1..``degree`` (K = 3 or 8) at unit ``normals``
    (N, 3), without their normalising constants (the coefficients absorb them)."""
    x, y, z = normals.unbind(-1)
    terms = [y, z, x]
    if degree >= 2:
        terms += [x * y, y * z, 3 * z * z - 1, x * z, x * x - y * y]
    return torch.stack(terms, dim=-1)


def shading_factor(normals: Tensor, coefficients: Tensor) -> Tensor:
    """(N, 3) non-negative per-channel light at ``normals`` (N, 3): 1 + basis @ ``coefficients``
    (K, 3), K = 3 (degree 1) or 8 (degree 2)."""
    degree = 1 if coefficients.shape[0] == 3 else 2
    return (1 + sh_basis(normals, degree) @ coefficients).clamp_min(0)


@register_gaussian_deformer("shading")
class Shading(GaussianDeformer):
    """Colours times the learned light at each Gaussian's triangle normal in the camera's frame."""

    Config = ShadingConfig

    def __init__(self, config: ShadingConfig, build: BuildContext):
        super().__init__()
        if config.degree not in (1, 2):
            raise ValueError(f"shading.degree must be 1 or 2, not {config.degree}")
        self.config = config
        n_terms = 3 if config.degree == 1 else 8
        self.coefficients = nn.Parameter(torch.zeros(n_terms, 3, device=build.head.neutral.device))

    def forward(self, gaussians: GaussianSet, ctx: DeformContext) -> GaussianSet:
        normals = face_frames(ctx.posed, ctx.head.triangles).rotation[..., 2]
        if ctx.view_rotation is not None:
            normals = normals @ ctx.view_rotation.T
        light = shading_factor(normals[ctx.gaussians.triangle], self.coefficients)
        return gaussians._replace(colours=gaussians.colours * light)

    def param_groups(self) -> list[ParamGroup]:
        return [ParamGroup("coefficients", [self.coefficients], self.config.lr)]
