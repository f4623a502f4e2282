"""Shading that follows the head's turns: the Gaussians' colours are albedos lit by one smooth,
learned light that stays with the camera, so a cheek that turns away from the lamp darkens.

In a monocular clip the lights stay put while the head turns; a Gaussian's baked colour is then
right at one pose and wrong at the others, and the image loss averages the poses into a blur. Here
each colour is ``albedo * (1 + bound * tanh(sum_k c_k Y_k(n)))``: ``n`` the normal of the
Gaussian's triangle on the neutral mesh, turned by the head's rotation into the frame of the camera
rendering it (the training camera's is the world's; a turntable camera lights the side it looks at
as the clip's camera lit the face), ``Y_k`` the real spherical harmonics of degree 1 to ``degree``
and ``c`` (K, 3) learned per channel, shared by every Gaussian. The normals are the neutral mesh's,
not the expression's: with the posed triangles' normals and no bound the light learned to switch
whole orientations off and an expression the clip did not show, which tilts many small triangles,
relit the face dark red; ``bound`` keeps the light a modulation of the albedo. Degree 2 (8
coefficients per channel) holds a distant light's Lambertian irradiance to within a few percent
(Ramamoorthi and Hanrahan, "An Efficient Representation for Irradiance Environment Maps", SIGGRAPH
2001); the constant term is the albedo's. The light is global, not per Gaussian, so it cannot
memorise frames and carries over to poses the clip never showed.

Off by default (``--deformer shading``): the refined protocol gains, the tracked one loses (the
light moves with tracked head poses that are off), and its zero-expression render stays the person
(measurements of this version and the first: docs/quality.md, section
"`avatar.deformers.shading`").
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
from headsplat.geometry import sh_basis


@dataclass
class ShadingConfig:
    degree: int = 2
    """Highest spherical-harmonic degree of the light (1 or 2)."""
    lr: float = 2e-3
    """Adam's rate for the light's coefficients."""
    bound: float = 0.5
    """The light scales a colour by 1 +- at most this."""


N_TERMS = {1: 3, 2: 8}
"""Spherical-harmonic terms of degrees 1..d, by d."""


def shading_factor(normals: Tensor, coefficients: Tensor, bound: float) -> Tensor:
    """(N, 3) per-channel light at ``normals`` (N, 3): 1 + bound * tanh(basis @ ``coefficients``
    (K, 3)), K = 3 (degree 1) or 8 (degree 2)."""
    degree = {n: d for d, n in N_TERMS.items()}[coefficients.shape[0]]
    return 1 + bound * torch.tanh(sh_basis(normals, degree) @ coefficients)


@register_gaussian_deformer("shading")
class Shading(GaussianDeformer):
    """Colours times the learned light at each Gaussian's neutral triangle normal, turned with the
    head into the camera's frame."""

    Config = ShadingConfig
    moves_gaussians = False

    def __init__(self, config: ShadingConfig, build: BuildContext):
        super().__init__()
        if config.degree not in N_TERMS:
            raise ValueError(f"shading.degree must be 1 or 2, not {config.degree}")
        self.config = config
        head = build.head
        self.coefficients = nn.Parameter(torch.zeros(N_TERMS[config.degree], 3, device=head.neutral.device))
        normals = face_frames(head.neutral, head.triangles).rotation[..., 2]
        self.register_buffer("neutral_normals", normals, persistent=False)  # (T, 3), from the head

    def forward(self, gaussians: GaussianSet, ctx: DeformContext) -> GaussianSet:
        turn = ctx.condition.rotation
        if ctx.view_rotation is not None:
            turn = ctx.view_rotation @ turn
        normals = self.neutral_normals[ctx.gaussians.triangle] @ turn.T
        light = shading_factor(normals, self.coefficients, self.config.bound)
        return gaussians._replace(colours=gaussians.colours * light)

    def param_groups(self) -> list[ParamGroup]:
        return [ParamGroup("coefficients", [self.coefficients], self.config.lr)]
