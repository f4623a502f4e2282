"""What the Gaussian deformers that decode offsets from UV space share (soft binding, the hair's
motion, the per-frame code): a feature atlas with a tile per material
(:mod:`headsplat.avatar.gaussians.uv_atlas`), a small MLP per Gaussian, and offsets of a
Gaussian's position, rotation, scale, colour and opacity, each bounded by a tanh (STAvatar's
parametrisation: Zhao et al., arXiv 2511.19854).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from headsplat.avatar.deformers.base import DeformContext
from headsplat.avatar.gaussians.binding import face_frames
from headsplat.avatar.gaussians.store import GaussianSet
from headsplat.geometry import axis_angle_to_matrix, matrix_to_quaternion, quaternion_multiply

if TYPE_CHECKING:
    from headsplat.avatar.head_mesh import HeadMesh

OUTPUTS = 13
"""Position (3), rotation (3, axis-angle), log-scale (3), colour (3), opacity logit (1)."""


@dataclass
class OffsetBounds:
    """How far decoded offsets (tanh-normalised, in [-1, 1]) may move a Gaussian."""

    max_position: float = 0.5
    """Largest position offset, in the triangle's mean edge lengths."""
    max_rotation: float = 0.5
    """Largest rotation offset, radians."""
    max_log_scale: float = 0.5
    max_colour: float = 0.2
    max_opacity: float = 2.0
    """Largest opacity offset, in logit."""


@dataclass
class UVDecoderConfig(OffsetBounds):
    """A decoder of per-Gaussian offsets from a UV feature atlas."""

    channels: int = 8
    """Features per texel of the UV atlas."""
    resolution: int = 32
    """Texels per side of each material's tile."""
    hidden: int = 64
    """Width of the decoder's two hidden layers."""
    lr_features: float = 1e-2
    lr_decoder: float = 1e-3


def feature_atlas(head: HeadMesh, channels: int, resolution: int) -> nn.Parameter:
    """(channels, resolution, M x resolution) small random features on ``head``'s device, a tile
    per material of its M (:mod:`headsplat.avatar.gaussians.uv_atlas`), the same for every avatar
    (seed 0)."""
    n_materials = len(head.info["material_names"])
    generator = torch.Generator().manual_seed(0)
    atlas = 1e-2 * torch.randn(channels, resolution, n_materials * resolution, generator=generator)
    return nn.Parameter(atlas.to(head.neutral.device))


def decoder_mlp(n_inputs: int, hidden: int, n_outputs: int, device: torch.device) -> nn.Sequential:
    """The per-Gaussian decoder: two SiLU hidden layers of ``hidden``."""
    return nn.Sequential(
        nn.Linear(n_inputs, hidden),
        nn.SiLU(),
        nn.Linear(hidden, hidden),
        nn.SiLU(),
        nn.Linear(hidden, n_outputs),
    ).to(device)


def offset_gaussians(
    gaussians: GaussianSet, out: Tensor, ctx: DeformContext, bounds: OffsetBounds
) -> GaussianSet:
    """``gaussians`` moved by the tanh-normalised offsets ``out`` (N, 13) within ``bounds``: the
    position in the Gaussian's triangle frame and mean edge lengths of ``ctx.posed``, the rotation
    as an axis-angle in its own frame, the scale as a log-factor, the colour additively and the
    opacity in logit."""
    c = bounds
    frames = face_frames(ctx.posed, ctx.head.triangles)
    rotation, size = frames.rotation[ctx.gaussians.triangle], frames.scale[ctx.gaussians.triangle]
    shift = (rotation @ (c.max_position * out[:, 0:3])[..., None])[..., 0] * size[:, None]
    turn = matrix_to_quaternion(axis_angle_to_matrix(c.max_rotation * out[:, 3:6]))
    opacity = torch.logit(gaussians.opacities.clamp(1e-6, 1 - 1e-6)) + c.max_opacity * out[:, 12]
    return GaussianSet(
        gaussians.means + shift,
        quaternion_multiply(gaussians.quats, turn),
        gaussians.scales * torch.exp(c.max_log_scale * out[:, 6:9]),
        torch.sigmoid(opacity),
        (gaussians.colours + c.max_colour * out[:, 9:12]).clamp_min(0.0),
    )
