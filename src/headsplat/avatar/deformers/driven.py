"""Offsets driven by one vector per frame, zero when it is zero: the shared form of the per-frame
code (:mod:`~headsplat.avatar.deformers.frame_code`) and the hair's motion
(:mod:`~headsplat.avatar.deformers.hair_motion`).

Each Gaussian decodes, from features in a UV atlas at its point (as soft binding's), a basis
(13, D); its offsets (:func:`~headsplat.avatar.deformers.uv_decoder.offset_gaussians`) are
``tanh(basis @ drive)`` for the frame's drive (D,) in ``condition.extras``: a learned linear
response per Gaussian, bounded. A zero drive moves nothing and a condition without one renders
exactly as the avatar without the deformer.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from headsplat.avatar.deformers.base import BuildContext, DeformContext, GaussianDeformer
from headsplat.avatar.deformers.uv_decoder import (
    OUTPUTS,
    UVDecoderConfig,
    decoder_mlp,
    feature_atlas,
    offset_gaussians,
)
from headsplat.avatar.gaussians.store import GaussianSet
from headsplat.avatar.gaussians.uv_atlas import gaussians_in_atlas, sample_atlas
from headsplat.avatar.modules import ParamGroup


class DrivenOffsets(GaussianDeformer):
    """Per-Gaussian offsets linear (before the tanh) in the drive ``condition.extras[drive_key]``.

    Args:
        drive_size: D. moved: (T,) bool, the triangles whose Gaussians move (None: all).
    """

    drive_key: ClassVar[str]

    def __init__(
        self, config: UVDecoderConfig, build: BuildContext, drive_size: int, moved: Tensor | None = None
    ):
        super().__init__()
        self.config = config
        self.drive_size = drive_size
        head = build.head
        device = head.neutral.device
        self.features = feature_atlas(head, config.channels, config.resolution)
        # Not zeroed as soft binding's last layer: a drive that starts at zero and a zero basis
        # would leave each other without a gradient.
        self.decoder = decoder_mlp(config.channels, config.hidden, OUTPUTS * drive_size, device)
        self.register_buffer("moved", moved, persistent=False)  # derived from the head

    def offsets(self, drive: Tensor, ctx: DeformContext) -> Tensor:
        """(N, 13) the tanh-normalised offsets of every Gaussian for ``drive`` (D,)."""
        grid = gaussians_in_atlas(ctx.head, ctx.gaussians, self.config.resolution)
        basis = self.decoder(sample_atlas(self.features, grid)).unflatten(-1, (OUTPUTS, self.drive_size))
        out = torch.tanh(basis @ drive)
        if self.moved is not None:
            out = out * self.moved[ctx.gaussians.triangle, None]
        return out

    def forward(self, gaussians: GaussianSet, ctx: DeformContext) -> GaussianSet:
        drive = ctx.condition.extras.get(self.drive_key)
        if drive is None:
            return gaussians
        return offset_gaussians(gaussians, self.offsets(drive, ctx), ctx, self.config)

    def param_groups(self) -> list[ParamGroup]:
        c = self.config
        return [
            ParamGroup("features", [self.features], c.lr_features),
            ParamGroup("decoder", list(self.decoder.parameters()), c.lr_decoder),
        ]
