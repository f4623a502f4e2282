"""The hair's swing from the head's motion: the hair's Gaussians move with the head's angular
velocity and acceleration relative to the torso over the frames before (``condition.extras
["motion"]``, :func:`~headsplat.avatar.condition.head_motion`), so hair can lag a turning head
and swing on when it stops, where a binding to the scalp turns it rigidly with the skull.

The offsets are linear in the motion before their bound (:mod:`~headsplat.avatar.deformers.driven`):
a learned first-order response per Gaussian, zero for a still head, and only the hair's Gaussians
(those on :meth:`~headsplat.avatar.head_mesh.HeadMesh.hair_triangles`) move. Every sequence of
conditions carries the motion (a subject's frames, a reenactment's driver, the .ply sequence
export); a single pose (an orbit, the rest pose, the .ply export) has none and renders still.
The blendshape export and the viewer play poses, not their history, and refuse it
(``moves_gaussians``).

Off by default: no change on d3 and d10 as first measured (measurements: docs/quality.md, section
"Hair skinning, motion and the per-frame code").
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from headsplat.avatar.condition import MOTION
from headsplat.avatar.deformers.base import BuildContext, DeformContext, register_gaussian_deformer
from headsplat.avatar.deformers.driven import DrivenOffsets
from headsplat.avatar.deformers.uv_decoder import UVDecoderConfig
from headsplat.avatar.gaussians.store import GaussianSet
from headsplat.avatar.modules import LossContext, Losses


@dataclass
class HairMotionConfig(UVDecoderConfig):
    offset_weight: float = 1e-2
    """Pull of the (tanh-normalised) offsets towards zero: mean square over Gaussians and outputs."""


@register_gaussian_deformer("hair_motion")
class HairMotion(DrivenOffsets):
    """Offsets of the hair's Gaussians from the head's angular velocity and acceleration."""

    Config = HairMotionConfig
    drive_key = MOTION

    def __init__(self, config: HairMotionConfig, build: BuildContext):
        super().__init__(config, build, 6, build.head.hair_triangles())
        self._offsets: Tensor | None = None

    def forward(self, gaussians: GaussianSet, ctx: DeformContext) -> GaussianSet:
        self._offsets = None
        motion = ctx.condition.extras.get(MOTION)
        if motion is None or not motion.any():  # a still head: exactly the avatar without it
            return gaussians
        return super().forward(gaussians, ctx)

    def offsets(self, drive: Tensor, ctx: DeformContext) -> Tensor:
        self._offsets = super().offsets(drive, ctx)  # for the regulariser of this step
        return self._offsets

    def losses(self, ctx: LossContext) -> Losses:
        if self._offsets is None:
            return {}
        return {"hair_motion_offsets": (self.config.offset_weight, self._offsets.pow(2).mean())}
