"""The still torso: the neck bends from the head's pose to the torso's, so the shoulders and the
clothes stay put while the head turns (monocular head clips move the head far more than the body).

The torso pose comes with the condition (:attr:`headsplat.avatar.condition.Condition.torso`); for a
training clip it is one pose per clip, :func:`torso_pose` of the training frames' head poses, which
the avatar keeps as its rest pose.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from headsplat.avatar.deformers.base import BuildContext, DeformContext, MeshDeformer, register_mesh_deformer


@dataclass
class StillTorsoConfig:
    neck_top: float = -8.0
    """Model height (cm) below which the neck starts to bend (below the chin)."""
    neck_bottom: float = -18.0
    """Model height (cm) below which everything holds the torso's pose (the collarbones)."""


def neck_weights(neutral: Tensor, top: float, bottom: float) -> Tensor:
    """(V,) how far each vertex of ``neutral`` (V, 3) follows the head rather than the torso.

    1 above model height ``top``, 0 below ``bottom``, smoothstep between: the neck bends over its
    length, so its base stays with the shoulders while the skull turns (two-bone linear blend
    skinning, as SMPL/FLAME's neck joint, with weights from height instead of a rig).
    """
    ramp = ((neutral[:, 1] - bottom) / (top - bottom)).clamp(0, 1)
    return ramp * ramp * (3 - 2 * ramp)


def torso_pose(rotation: Tensor, translation: Tensor) -> tuple[Tensor, Tensor]:
    """The still torso of a clip: chordal mean (3, 3) of the head rotations (F, 3, 3) and the mean
    (3,) of the translations (F, 3)."""
    u, _, vt = torch.linalg.svd(rotation.mean(0))
    mean = u @ vt
    if torch.det(mean) < 0:
        mean = u @ torch.diag(torch.tensor([1.0, 1.0, -1.0], device=u.device)) @ vt
    return mean, translation.mean(0)


@register_mesh_deformer("still_torso")
class StillTorso(MeshDeformer):
    """World space: V = still + w (posed - still), ``still`` the canonical mesh at the condition's
    torso pose, ``w`` the :func:`neck_weights`. A condition without a torso pose passes through."""

    Config = StillTorsoConfig
    space = "world"

    def __init__(self, config: StillTorsoConfig, build: BuildContext):
        super().__init__()
        self.config = config
        weights = neck_weights(build.head.neutral, config.neck_top, config.neck_bottom)
        self.register_buffer("head_weight", weights, persistent=False)  # derived from the config

    def forward(self, vertices: Tensor, ctx: DeformContext) -> Tensor:
        if ctx.condition.torso is None:
            return vertices
        rotation, translation = ctx.condition.torso
        still = ctx.canonical @ rotation.T + translation
        return still + self.head_weight[:, None] * (vertices - still)
