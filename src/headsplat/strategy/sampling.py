"""FATE's sampling-based densification (Zhang et al., CVPR 2025)."""

from __future__ import annotations

import torch

from headsplat.strategy.base import StepContext, Strategy, copy_rows, random_barycentric


class SamplingStrategy(Strategy):
    """Draw ``add`` parents with probability proportional to their mean screen-space gradient;
    each child lands at a random barycentric point of its parent's triangle and inherits the
    parent's other attributes."""

    def densify(self, ctx: StepContext) -> None:
        weights = self.mean_gradient(ctx.state)
        if weights.sum() <= 0:
            return
        room = self.config.max_gaussians - len(ctx.gaussians)
        generator = ctx.state.generator
        # Drawn on the CPU: the generator (and so the run's reproducibility) lives there.
        parents = torch.multinomial(
            weights.cpu(), min(self.config.add, room), replacement=True, generator=generator
        ).to(weights.device)
        children = copy_rows(ctx.gaussians, parents)
        children["bary"] = random_barycentric(len(parents), generator).to(children["bary"])
        ctx.change_rows(appended=children, parents=parents)
