"""FATE's sampling-based densification (Zhang et al., CVPR 2025)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from headsplat.strategy.base import (
    DensificationConfig,
    DensifyingStrategy,
    StepContext,
    StrategyConfig,
    copy_rows,
    random_barycentric,
    register_strategy,
    shared_opacity,
)


@dataclass
class SamplingConfig(DensificationConfig):
    add: int = 1000
    """Gaussians added per densification."""
    share_opacity: bool = True
    """A parent and its k new copies each take opacity 1 - (1 - o)^(1/(k+1)), so together they
    stop as much light as the parent alone did and densifying does not darken or thicken the
    image (MCMC-3DGS, Kheradmand et al. 2024, Eq. 9 at equal scales). Without it every
    densification stacks full-opacity copies the optimiser must first undo (docs/quality.md,
    "Training: binding, corrections, ...")."""


@register_strategy("sampling")
class SamplingStrategy(DensifyingStrategy):
    """Draw ``add`` parents with probability proportional to their mean screen-space gradient;
    each child lands at a random barycentric point of its parent's triangle and inherits the
    parent's other attributes; with ``share_opacity`` parent and children split the parent's
    opacity (:func:`~headsplat.strategy.base.shared_opacity`)."""

    Config: ClassVar[type[StrategyConfig]] = SamplingConfig

    def densify(self, ctx: StepContext) -> None:
        parents = self.draw_parents(ctx, self.config.max_gaussians - len(ctx.gaussians))
        if len(parents):
            self.add_children(ctx, parents)

    def draw_parents(self, ctx: StepContext, room: int) -> Tensor:
        """(A,) up to ``min(add, room)`` parents drawn with replacement by :meth:`mean_gradient`
        (none when no Gaussian has a gradient)."""
        weights = self.mean_gradient(ctx.state)
        if weights.sum() <= 0 or room <= 0:
            return torch.zeros(0, dtype=torch.long, device=weights.device)
        # Drawn on the CPU: the generator (and so the run's reproducibility) lives there.
        drawn = torch.multinomial(
            weights.cpu(), min(self.config.add, room), replacement=True, generator=ctx.state.generator
        )
        return drawn.to(weights.device)

    def add_children(self, ctx: StepContext, parents: Tensor) -> None:
        """One child per entry of ``parents`` (A,) (repeats allowed), at a random barycentric point
        of the parent's triangle; with ``share_opacity`` each parent's opacity is shared with its
        children."""
        generator = ctx.state.generator
        if self.config.share_opacity:
            store = ctx.gaussians
            copies = torch.bincount(parents, minlength=len(store)) + 1
            drawn = copies > 1
            with torch.no_grad():
                store.opacity[drawn] = shared_opacity(store.opacity[drawn], copies[drawn])
        children = copy_rows(ctx.gaussians, parents)
        children["bary"] = random_barycentric(len(parents), generator).to(children["bary"])
        ctx.change_rows(appended=children, parents=parents)
