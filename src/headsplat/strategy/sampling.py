"""FATE's sampling-based densification (Zhang et al., CVPR 2025)."""

from __future__ import annotations

import torch

from headsplat.strategy.base import StepContext, Strategy, copy_rows, random_barycentric, shared_opacity


class SamplingStrategy(Strategy):
    """Draw ``add`` parents with probability proportional to their mean screen-space gradient;
    each child lands at a random barycentric point of its parent's triangle and inherits the
    parent's other attributes; with ``share_opacity`` parent and children split the parent's
    opacity (:func:`~headsplat.strategy.base.shared_opacity`)."""

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
        if self.config.share_opacity:
            store = ctx.gaussians
            copies = torch.bincount(parents, minlength=len(store)) + 1
            drawn = copies > 1
            with torch.no_grad():
                store.opacity[drawn] = shared_opacity(store.opacity[drawn], copies[drawn])
        children = copy_rows(ctx.gaussians, parents)
        children["bary"] = random_barycentric(len(parents), generator).to(children["bary"])
        ctx.change_rows(appended=children, parents=parents)
