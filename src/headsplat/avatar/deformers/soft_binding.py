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
from headsplat.avatar.deformers.uv_decoder import (
    OUTPUTS,
    UVDecoderConfig,
    decoder_mlp,
    feature_atlas,
    offset_gaussians,
)
from headsplat.avatar.gaussians.store import GaussianSet
from headsplat.avatar.gaussians.uv_atlas import gaussians_in_atlas, sample_atlas
from headsplat.avatar.modules import LossContext, Losses, ParamGroup
from headsplat.geometry import matrix_to_axis_angle


@dataclass
class SoftBindingConfig(UVDecoderConfig):
    channels: int = 16
    resolution: int = 64
    offset_weight: float = 1e-2
    """Pull of the (tanh-normalised) offsets towards zero: mean square over Gaussians and outputs."""


@register_gaussian_deformer("soft_binding")
class SoftBinding(GaussianDeformer):
    """Per-Gaussian offsets decoded from a UV feature atlas, the expression and the neck's turn."""

    Config = SoftBindingConfig

    def __init__(self, config: SoftBindingConfig, build: BuildContext):
        super().__init__()
        self.config = config
        head = build.head
        device = head.neutral.device
        self.features = feature_atlas(head, config.channels, config.resolution)
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
