"""EAvatar's deformation-aware splitting (Zhang et al., arXiv 2508.13537, §4.5.3): where the face
deforms most (lips, lids, the jaw's line), one Gaussian stretched over a moving triangle cannot
follow it, so those Gaussians are duplicated beside FATE's gradient draws.

The statistic, per Gaussian: how far the frame's expression moves its point of the model-space
mesh (the head model after its mesh deformers, sparse control included, and the gaze) from where
the rest expression puts it, in its triangle's mean edge lengths (so a small lip triangle that
moves 2 mm counts as much as a large jaw triangle that moves 1 cm), averaged over the steps it
was visible. Rigid head motion never counts: both meshes are in model space.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch
from torch import Tensor

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Condition
from headsplat.avatar.gaussians.store import initial_columns
from headsplat.strategy.base import StepContext, StrategyConfig, StrategyState, register_strategy
from headsplat.strategy.sampling import SamplingConfig, SamplingStrategy


@dataclass
class DeformationConfig(SamplingConfig):
    deform_threshold: float = 0.5
    """Mean displacement (in its triangle's mean edge lengths) above which a Gaussian is duplicated."""
    deform_clones: int = 1000
    """At most this many duplicates per densification, the most displaced first."""
    deform_density: float = 4.0
    """No triangle takes duplicates beyond this many times its initial Gaussian count (at least 1)."""


def displacements(avatar: Avatar, condition: Condition) -> Tensor:
    """(N,) how far ``condition``'s expression moves each Gaussian's point of the model-space mesh
    from the rest expression's, in mean edge lengths of its triangle on the rest mesh."""
    rest, _ = avatar.mesh(replace(condition, expression=avatar.neutral_expression))
    moved, _ = avatar.mesh(condition)
    store, triangles = avatar.gaussians, avatar.head.triangles
    corners = triangles[store.triangle]  # (N, 3)
    bary = store.bary.detach()[..., None]
    shift = ((moved - rest)[corners] * bary).sum(dim=1).norm(dim=-1)
    points = rest[corners]  # (N, 3, 3)
    edges = (points - points.roll(1, dims=1)).norm(dim=-1).mean(dim=1)
    return shift / edges.clamp_min(1e-6)


@register_strategy("deformation")
class DeformationStrategy(SamplingStrategy):
    """FATE's sampling (:class:`~headsplat.strategy.sampling.SamplingStrategy`) plus one duplicate
    of each Gaussian whose mean displacement (:func:`displacements`) exceeds ``deform_threshold``,
    at a random barycentric point of its triangle, opacity shared with it."""

    Config: ClassVar[type[StrategyConfig]] = DeformationConfig

    def __init__(self, config: DeformationConfig, image_size: int):
        super().__init__(config, image_size)
        self._initial_counts: Tensor | None = None

    def initialize_state(self, n_gaussians: int, device: torch.device | str, seed: int = 0) -> StrategyState:
        state = super().initialize_state(n_gaussians, device, seed)
        state.columns["deform_sum"] = torch.zeros(n_gaussians, device=device)
        return state

    def _accumulate(self, ctx: StepContext) -> None:
        super()._accumulate(ctx)
        with torch.no_grad():
            moved = displacements(ctx.avatar, ctx.condition)
        ctx.state.columns["deform_sum"] += torch.where(ctx.rendering.info.visible, moved, 0.0)

    @staticmethod
    def mean_displacement(state: StrategyState) -> Tensor:
        """(N,) :func:`displacements` averaged over the steps each Gaussian was visible."""
        return state.columns["deform_sum"] / state.columns["seen"].clamp_min(1)

    def densify(self, ctx: StepContext) -> None:
        """FATE's draws and the duplicates; the displacements' percentiles over the Gaussians seen
        and the duplicates' count go to the avatar's training record (``deformation``), from which
        ``deform_threshold`` is set."""
        room = self.config.max_gaussians - len(ctx.gaussians)
        drawn = self.draw_parents(ctx, room)
        deformed = self.deformed_parents(ctx, room - len(drawn))
        seen = self.mean_displacement(ctx.state)[ctx.state.columns["seen"] > 0]
        if len(seen):
            levels = torch.tensor([0.5, 0.9, 0.99]).to(seen)
            percentiles = [round(float(v), 4) for v in torch.quantile(seen, levels)]
            record = {"step": ctx.step, "p50": percentiles[0], "p90": percentiles[1], "p99": percentiles[2]}
            training = ctx.avatar.info.setdefault("training", {})
            training.setdefault("deformation", []).append({**record, "duplicates": len(deformed)})
        parents = torch.cat([drawn, deformed])
        if len(parents):
            self.add_children(ctx, parents)

    def deformed_parents(self, ctx: StepContext, room: int) -> Tensor:
        """(A,) the Gaussians above ``deform_threshold``, most displaced first, at most
        ``deform_clones`` and ``room``, skipping those whose triangle is full
        (``deform_density``)."""
        c = self.config
        mean = self.mean_displacement(ctx.state)
        over = torch.nonzero(mean > c.deform_threshold)[:, 0]
        if len(over) == 0 or room <= 0:
            return over[:0]
        over = over[torch.argsort(mean[over], descending=True, stable=True)]
        triangle = ctx.gaussians.triangle
        room_left = (self.initial_counts(ctx.avatar).clamp_min(1) * c.deform_density).floor().long()
        room_left = room_left - torch.bincount(triangle, minlength=len(room_left))
        # The k-th duplicate on a triangle fits while k < its room (ranked in order of displacement).
        rank = _rank_within(triangle[over])
        fits = rank < room_left[triangle[over]]
        return over[fits][: max(0, min(c.deform_clones, room))]

    def initial_counts(self, avatar: Avatar) -> Tensor:
        """(T,) how many Gaussians the UV sampling put on each triangle when the avatar was made
        (derived from the head and the Gaussian config, so a resumed run derives the same)."""
        if self._initial_counts is None:
            columns = initial_columns(avatar.head, avatar.gaussians.config)
            counts = torch.bincount(columns["triangle"], minlength=len(avatar.head.triangles))
            self._initial_counts = counts.to(avatar.gaussians.triangle.device)
        return self._initial_counts


def _rank_within(groups: Tensor) -> Tensor:
    """(A,) each entry's place among the earlier entries of its group in ``groups`` (A,): 0 for the
    first of its group, 1 for the second, ..."""
    order = torch.argsort(groups, stable=True)
    sorted_groups = groups[order]
    starts = torch.ones_like(sorted_groups, dtype=torch.bool)
    starts[1:] = sorted_groups[1:] != sorted_groups[:-1]
    index = torch.arange(len(groups), device=groups.device)
    first = torch.cummax(torch.where(starts, index, 0), dim=0).values
    rank = torch.empty_like(index)
    rank[order] = index - first
    return rank
