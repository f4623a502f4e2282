"""Hair skinned between the head and the torso: long hair resting on the shoulders stays with
them while the head turns, where a binding to the scalp alone would swing it round with the skull.

Each hair Gaussian (one on :meth:`~headsplat.avatar.head_mesh.HeadMesh.hair_triangles`) blends
two placements by its own weight ``w``: as bound to the posed mesh (the head's rigid pose; the
neck's bend of the still torso below the chin) and as bound to the canonical mesh carried by the
torso's pose alone,

    mean = w mean_head + (1 - w) mean_torso,   rotation = nlerp(q_torso, q_head, w),

two-bone linear blend skinning per Gaussian (the neck's vertex weights of
:mod:`~headsplat.avatar.deformers.torso` are the same blend per vertex; SMPL's skinning is the
model). ``w`` starts from the height of the Gaussian's point on the neutral mesh, 1 above the ear
lobes and falling to 0 at the shoulders (:func:`~headsplat.avatar.deformers.torso.neck_weights`
with those heights), and is learned, clamped to [0, 1], per Gaussian: a person whose hair ends at
the nape can raise it back to the head where the clip turns the head. The face's Gaussians keep
``w = 1``. With no torso pose in the condition (the torso turns with the head) both placements
coincide and nothing moves.

It acts on the Gaussians as bound, so it goes first among the Gaussian deformers: the torso's
placement is re-bound from the mesh and would drop what an earlier deformer added. The export as
Gaussian blendshapes and the viewer cannot play a per-Gaussian blend of two poses yet and refuse
it (``moves_gaussians``); .ply and .ply sequences hold it.

Off by default: it lost held out on d3 and d10, from either start (measurements: docs/quality.md,
section "Hair skinning, motion and the per-frame code").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from headsplat.avatar.deformers.base import (
    BuildContext,
    DeformContext,
    GaussianDeformer,
    register_gaussian_deformer,
)
from headsplat.avatar.deformers.torso import neck_weights
from headsplat.avatar.gaussians.rows import RowChange, replace_parameter
from headsplat.avatar.gaussians.store import GaussianSet, GaussianStore
from headsplat.avatar.modules import ParamGroup


@dataclass
class HairSkinningConfig:
    ears: float = -2.0
    """Model height (cm) of the ear lobes: hair above it starts out following the head."""
    shoulders: float = -12.0
    """Model height (cm) below which hair starts out following the torso (smoothstep between)."""
    lr: float = 1e-2
    """Adam's rate of the per-Gaussian weights (a weight spans [0, 1])."""


@register_gaussian_deformer("hair_skinning")
class HairSkinning(GaussianDeformer):
    """Per-Gaussian blend of the head's placement and the torso's for the hair's Gaussians."""

    Config = HairSkinningConfig

    def __init__(self, config: HairSkinningConfig, build: BuildContext):
        super().__init__()
        self.config = config
        head = build.head
        start = neck_weights(head.neutral, config.ears, config.shoulders)
        self.register_buffer("vertex_start", start, persistent=False)  # (V,), derived from the config
        self.register_buffer("hair", head.hair_triangles(), persistent=False)  # (T,) bool
        # Learned per Gaussian as a change of its starting weight, so a Gaussian added on any
        # triangle starts from its own height (fresh rows: 0), a split or clone from its parent's.
        self.weight_change = nn.Parameter(torch.zeros(build.n_gaussians, device=head.neutral.device))

    def head_weight(self, store: GaussianStore, triangles: Tensor) -> Tensor:
        """(N,) each Gaussian's weight: 1 follows the head, 0 the torso; ``triangles`` (T, 3)."""
        corners = self.vertex_start[triangles[store.triangle]]  # (N, 3)
        # Divided by the barycentric weights' sum (1 only to rounding), so corners all at 1 give
        # exactly 1 and all at 0 exactly 0.
        start = (store.bary * corners).sum(-1) / store.bary.sum(-1)
        hair = self.hair[store.triangle]
        return torch.where(hair, (start + self.weight_change).clamp(0.0, 1.0), torch.ones_like(start))

    def forward(self, gaussians: GaussianSet, ctx: DeformContext) -> GaussianSet:
        if ctx.condition.torso is None:
            return gaussians
        head, store = ctx.head, ctx.gaussians
        weight = self.head_weight(store, head.triangles)
        # Every hair Gaussian, those at 1 too: a weight learns only where it is in the graph.
        blended = torch.nonzero(self.hair[store.triangle])[:, 0]
        if len(blended) == 0:
            return gaussians
        rotation, translation = ctx.condition.torso
        torso = store.posed(ctx.canonical @ rotation.T + translation, head.triangles, self.hair)
        w = weight[blended, None]
        head_means, head_quats = gaussians.means[blended], gaussians.quats[blended]
        means = gaussians.means.index_copy(0, blended, w * head_means + (1 - w) * torso.means[blended])
        turned = torch.where(w == 1, head_quats, nlerp(torso.quats[blended], head_quats, w))  # 1: exact
        quats = gaussians.quats.index_copy(0, blended, turned)
        return gaussians._replace(means=means, quats=quats)

    def param_groups(self) -> list[ParamGroup]:
        return [ParamGroup("weight_change", [self.weight_change], self.config.lr, per_gaussian=True)]

    def apply_row_change(self, change: RowChange, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        rows = change.apply(self.weight_change.detach(), 0.0, inherit=True)
        replace_parameter(self, "weight_change", rows, optimizers=optimizers, change=change)


def nlerp(start: Tensor, end: Tensor, t: Tensor) -> Tensor:
    """(N, 4) unit quaternions from ``start`` (t = 0) to ``end`` (t = 1), (N, 4) each, at ``t``
    (N, 1): the normalised linear blend on the shorter arc (linear blend skinning's rotation)."""
    end = torch.where((start * end).sum(-1, keepdim=True) < 0, -end, end)
    return nn.functional.normalize((1 - t) * start + t * end, dim=-1)
