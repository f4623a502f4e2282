"""3DGS adaptive density control in the triangle frame (Kerbl et al. 2023, as GaussianAvatars)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from headsplat.strategy.base import (
    DensificationConfig,
    DensifyingStrategy,
    StepContext,
    StrategyConfig,
    copy_rows,
    random_barycentric,
    register_strategy,
)


@dataclass
class ThresholdConfig(DensificationConfig):
    grad_threshold: float = 2e-4
    """Mean screen-space gradient (in normalised image units) that triggers clone/split."""
    split_scale: float = 0.5
    """Gaussians whose largest log-scale exceeds log(split_scale) (i.e. wider than this many mean
    edge lengths) are split, smaller ones cloned."""


@register_strategy("threshold")
class ThresholdStrategy(DensifyingStrategy):
    """Gaussians whose mean screen-space gradient exceeds the threshold are cloned if small, split
    in two if large (children 1.6x smaller, placed around the parent on its triangle)."""

    Config: ClassVar[type[StrategyConfig]] = ThresholdConfig

    def densify(self, ctx: StepContext) -> None:
        c, store = self.config, ctx.gaussians
        hot = self.mean_gradient(ctx.state) > c.grad_threshold
        if not hot.any():
            return
        large = store.log_scale.detach().max(-1).values > np.log(c.split_scale)
        clone, split = torch.nonzero(hot & ~large)[:, 0], torch.nonzero(hot & large)[:, 0]
        room = c.max_gaussians - len(store)
        clone, split = clone[: max(room, 0)], split[: max(room - len(clone), 0) // 2]
        cloned = copy_rows(store, clone)
        halves = copy_rows(store, split.repeat(2))
        halves["log_scale"] -= np.log(1.6)
        jitter = 0.5 * (random_barycentric(len(halves["bary"]), ctx.state.generator) - 1 / 3)
        halves["bary"] = (halves["bary"] + jitter.to(halves["bary"])).clamp_min(0)
        halves["bary"] /= halves["bary"].sum(-1, keepdim=True)
        keep = torch.ones(len(store), dtype=torch.bool, device=hot.device)
        keep[split] = False
        appended = {name: torch.cat([cloned[name], halves[name]]) for name in cloned}
        ctx.change_rows(keep=keep, appended=appended, parents=torch.cat([clone, split.repeat(2)]))
