"""STAvatar's temporal adaptive density control (Zhao et al. 2025, §3.3), on top of FATE's
sampling densification.

Why: a region the training frames show rarely (the mouth's inside, closed lids, a head turned
away) contributes to few steps, so statistics averaged over all steps dilute its error and
densification never reaches it. STAvatar groups structurally similar frames and keeps the
statistics per group. Here:

- the training frames are clustered once by expression and head pose
  (:mod:`headsplat.strategy.frame_clusters`: PCA, k-means, K in 5..12 by silhouette);
- every statistic is kept per cluster, (N, K) columns, and a Gaussian's criterion is the mean of
  its per-cluster means over the clusters that saw it: each kind of frame weighs the same,
  however often it occurs;
- the gradient criterion draws FATE's ``add`` children as :class:`SamplingStrategy` does;
- the fused error (0.8 L1 + 0.2 (1 - SSIM), :meth:`StepContext.error_map`) is summed over each
  Gaussian's footprint with its blending weights (one extra render and backward pass per step)
  and divided by the summed weights: the mean fused error under the Gaussian, a per-pixel
  quantity free of the image size and the footprint's area. Gaussians whose criterion exceeds
  ``error_threshold`` get one more child each, the worst first, at most ``error_clones`` per
  densification (STAvatar: 2500), at random points of their triangles as FATE samples.

STAvatar's threshold (1e-3) is in its own implementation's units, which the paper does not give;
``error_threshold`` is ours, set by measurement (see :class:`TemporalConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from headsplat.strategy.base import StepContext, StrategyConfig, StrategyState, register_strategy
from headsplat.strategy.frame_clusters import FrameClusters, cluster_frames
from headsplat.strategy.sampling import SamplingConfig, SamplingStrategy

COLUMNS = ("grad_sum", "seen", "error_sum", "weight_sum")


def cluster_balanced_mean(sums: Tensor, counts: Tensor, min_count: float = 0.0) -> Tensor:
    """(N,) the mean over clusters of the per-cluster means ``sums / counts`` (N, K), over the
    clusters where ``counts`` > ``min_count`` (0 where there is none)."""
    present = counts > min_count
    means = torch.where(present, sums / counts.clamp_min(1e-12), 0.0)
    return means.sum(1) / present.sum(1).clamp_min(1)


@dataclass
class TemporalConfig(SamplingConfig):
    min_clusters: int = 5
    """The fewest frame clusters tried (STAvatar: 5)."""
    max_clusters: int = 12
    """The most frame clusters tried (STAvatar: 12)."""
    error_threshold: float = 0.15
    """A Gaussian whose mean fused error under its footprint (cluster-balanced) exceeds this gets a
    child. 0.15 picks the worst few per cent of the Gaussians after the first densifications;
    0.1 more than doubles the Gaussians by the end (docs/quality.md, "STAvatar's temporal density
    control")."""
    error_clones: int = 2500
    """At most this many fused-error children per densification (STAvatar: 2500)."""


@register_strategy("temporal")
class TemporalStrategy(SamplingStrategy):
    """Sampling densification with per-cluster statistics and fused-error clones (module doc)."""

    Config: ClassVar[type[StrategyConfig]] = TemporalConfig
    needs = frozenset({"error_map", "footprint_sums"})

    def __init__(self, config: TemporalConfig, image_size: int):
        super().__init__(config, image_size)
        self.clusters: FrameClusters | None = None
        self.cluster_of: dict[int, int] = {}
        self.last_densification = 0

    def plan(self, frames: np.ndarray, motion: np.ndarray, steps: int, seed: int = 0) -> dict:
        c = self.config
        self.clusters = cluster_frames(motion, range(c.min_clusters, c.max_clusters + 1), seed)
        self.cluster_of = dict(zip(map(int, frames), map(int, self.clusters.labels), strict=True))
        end = min(c.stop, steps + 1)
        self.last_densification = max(0, (end - 1) // c.every * c.every)
        silhouette = round(self.clusters.silhouettes[self.clusters.k], 4)
        return {"clusters": self.clusters.k, "cluster_sizes": self.clusters.sizes(), "silhouette": silhouette}

    def initialize_state(self, n_gaussians: int, device: torch.device | str, seed: int = 0) -> StrategyState:
        if self.clusters is None:
            raise RuntimeError("the temporal strategy clusters the training frames first: call plan()")
        shape = (n_gaussians, self.clusters.k)
        columns = {name: torch.zeros(shape, device=device) for name in COLUMNS}
        return StrategyState(columns, torch.Generator().manual_seed(seed))

    def mean_gradient(self, state: StrategyState) -> Tensor:
        return cluster_balanced_mean(state.columns["grad_sum"], state.columns["seen"])

    def mean_error(self, state: StrategyState) -> Tensor:
        """(N,) the cluster-balanced mean fused error under each Gaussian; clusters where its
        summed blending weight is under a pixel (at 256 px) do not count."""
        floor = (self.image_size / 256) ** 2
        return cluster_balanced_mean(state.columns["error_sum"], state.columns["weight_sum"], floor)

    def _accumulate(self, ctx: StepContext) -> None:
        ctx.state.check(len(ctx.gaussians))
        cluster = self.cluster_of[ctx.frame]
        columns = ctx.state.columns
        norm = self.screen_gradient(ctx)
        if norm is not None:
            columns["grad_sum"][:, cluster] += norm
            columns["seen"][:, cluster] += ctx.rendering.info.visible.float()
        c = self.config
        read = c.start - c.every < ctx.step <= self.last_densification  # what a densification reads
        if read and len(ctx.gaussians) < c.max_gaussians:
            error = ctx.error_map()
            sums = ctx.footprint_sums(torch.stack([error, torch.ones_like(error)], dim=-1))
            columns["error_sum"][:, cluster] += sums[:, 0]
            columns["weight_sum"][:, cluster] += sums[:, 1]

    def densify(self, ctx: StepContext) -> None:
        room = self.config.max_gaussians - len(ctx.gaussians)
        drawn = self.draw_parents(ctx, room)
        worst = self.error_parents(ctx.state, room - len(drawn))
        parents = torch.cat([drawn, worst])
        if len(parents):
            self.add_children(ctx, parents)

    def error_parents(self, state: StrategyState, room: int) -> Tensor:
        """(A,) the Gaussians whose :meth:`mean_error` exceeds ``error_threshold``, worst first, at
        most ``error_clones`` and ``room``."""
        error = self.mean_error(state)
        over = torch.nonzero(error > self.config.error_threshold)[:, 0]
        order = torch.argsort(error[over], descending=True, stable=True)
        return over[order][: max(0, min(self.config.error_clones, room))]
