"""STAvatar's UV-adaptive soft binding (Zhao et al., arXiv 2511.19854): mesh-bound Gaussians moved
only by the mesh look rigid, so each Gaussian also gets offsets of its position, rotation, scale,
colour and opacity, decoded from a learned feature map in UV space together with the frame's
expression and the head's turn relative to the torso.

A Gaussian reads its features bilinearly at its UV point in one atlas
(:mod:`headsplat.avatar.gaussians.uv_atlas`: a tile per material, since ICT's UV tile 0 overlaps
the face and eye islands), so Gaussians added by densification get theirs by resampling and the
deformer keeps no per-Gaussian state. A small MLP (STAvatar decodes with a U-Net over UV-space
inputs; an MLP per Gaussian costs 2 CPU cores far less) maps [features, expression, neck turn]
to the offsets, each bounded by a tanh: the position in the Gaussian's triangle frame and in its
mean edge lengths (so it turns and scales with the head), the rotation as an axis-angle in the
Gaussian's own frame, the scale as a log-factor, the colour additively and the opacity in logit.
The decoder's last layer starts at zero (the deformer starts as the identity) and the offsets
are pulled towards zero (``offset_weight``).

It moves Gaussians with the expression, which the blendshape export cannot hold
(``moves_gaussians``): such avatars export as .ply or .ply sequences.
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
from headsplat.avatar.gaussians.uv_atlas import gaussians_in_atlas, sample_atlas
from headsplat.avatar.modules import LossContext, Losses, ParamGroup
from headsplat.geometry import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_multiply,
)

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
class SoftBindingConfig(OffsetBounds):
    channels: int = 16
    """Features per texel of the UV atlas."""
    resolution: int = 64
    """Texels per side of each material's tile."""
    hidden: int = 64
    """Width of the decoder's two hidden layers."""
    lr_features: float = 1e-2
    lr_decoder: float = 1e-3
    offset_weight: float = 1e-2
    """Pull of the (tanh-normalised) offsets towards zero: mean square over Gaussians and outputs."""


def feature_atlas(channels: int, resolution: int, n_materials: int, device: torch.device) -> nn.Parameter:
    """(channels, resolution, n_materials x resolution) small random features, a tile per material
    (:mod:`headsplat.avatar.gaussians.uv_atlas`), the same for every avatar (seed 0)."""
    generator = torch.Generator().manual_seed(0)
    atlas = 1e-2 * torch.randn(channels, resolution, n_materials * resolution, generator=generator)
    return nn.Parameter(atlas.to(device))


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


@register_gaussian_deformer("soft_binding")
class SoftBinding(GaussianDeformer):
    """Per-Gaussian offsets decoded from a UV feature atlas, the expression and the neck's turn."""

    Config = SoftBindingConfig

    def __init__(self, config: SoftBindingConfig, build: BuildContext):
        super().__init__()
        self.config = config
        head = build.head
        device = head.neutral.device
        n_materials = len(head.info["material_names"])
        self.features = feature_atlas(config.channels, config.resolution, n_materials, device)
        n_inputs = config.channels + len(head.expression_names) + 3
        self.decoder = decoder_mlp(n_inputs, config.hidden, OUTPUTS, device)
        nn.init.zeros_(self.decoder[-1].weight)
        nn.init.zeros_(self.decoder[-1].bias)
        self._offsets: Tensor | None = None

    def offsets(self, ctx: DeformContext) -> Tensor:
        """(N, 13) the tanh-normalised offsets of every Gaussian for ``ctx``'s condition."""
        head, store, condition = ctx.head, ctx.gaussians, ctx.condition
        features = sample_atlas(self.features, gaussians_in_atlas(head, store, self.config.resolution))
        neck = torch.zeros(3, device=features.device)
        if condition.torso is not None:
            neck = matrix_to_axis_angle(condition.torso[0].T @ condition.rotation)
        drive = torch.cat([condition.expression, neck]).expand(len(features), -1)
        return torch.tanh(self.decoder(torch.cat([features, drive], -1)))

    def forward(self, gaussians: GaussianSet, ctx: DeformContext) -> GaussianSet:
        out = self.offsets(ctx)
        self._offsets = out  # for the regulariser of this step (losses() follows the render)
        return offset_gaussians(gaussians, out, ctx, self.config)

    def param_groups(self) -> list[ParamGroup]:
        c = self.config
        return [
            ParamGroup("features", [self.features], c.lr_features),
            ParamGroup("decoder", list(self.decoder.parameters()), c.lr_decoder),
        ]

    def losses(self, ctx: LossContext) -> Losses:
        if self._offsets is None:
            return {}
        return {"soft_binding_offsets": (self.config.offset_weight, self._offsets.pow(2).mean())}
