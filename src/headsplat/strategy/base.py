"""The strategy interface (gsplat's ``step_pre_backward`` / ``step_post_backward`` hooks) and the
three strategies of the comparison: ``fixed`` (FlashAvatar: the UV samples, never changed),
``sampling`` (FATE: add Gaussians where the screen-space gradient is large, on the same triangle at
a random barycentric point) and ``threshold`` (3DGS / GaussianAvatars: clone small and split large
Gaussians whose mean screen-space gradient passes a threshold). All prune by opacity.

Every change of the Gaussian set goes through :func:`headsplat.avatar.gaussians.store.update_rows`, so
optimizer state stays aligned with the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from headsplat.avatar.gaussians.store import Params, count, reset_values, update_rows
from headsplat.render.api import RasterInfo

STRATEGIES = ("fixed", "sampling", "threshold")


@dataclass
class StrategyConfig:
    """Densification settings (steps are optimisation steps)."""

    name: str = "sampling"
    """One of ``fixed``, ``sampling``, ``threshold``."""
    start: int = 200
    """No densification before this step (let the initial Gaussians settle)."""
    stop: int = 10_000_000
    """No densification from this step on."""
    every: int = 100
    """Densify every this many steps."""
    add: int = 1000
    """``sampling``: Gaussians added per densification."""
    max_gaussians: int = 200_000
    grad_threshold: float = 2e-4
    """``threshold``: mean screen-space gradient (in normalised image units) that triggers clone/split."""
    split_scale: float = 0.5
    """``threshold``: Gaussians whose largest log-scale exceeds log(split_scale) (i.e. wider than
    this many mean edge lengths) are split, smaller ones cloned."""
    prune_opacity: float = 0.005
    prune_every: int = 100
    reset_opacity_every: int = 0
    """Reset opacities to 0.01 every this many steps (0: never; 3DGS uses 3000)."""


class Strategy:
    """Base: accumulates the screen-space gradient statistics and prunes; subclasses densify.

    Args:
        config: settings. image_size: pixels, to normalise screen-space gradients.
        seed: random draws of new Gaussians are reproducible.
    """

    def __init__(self, config: StrategyConfig, image_size: int, seed: int = 0):
        self.config = config
        self.image_size = image_size
        self.generator = torch.Generator().manual_seed(seed)
        self.grad_sum = torch.zeros(0)
        self.seen = torch.zeros(0)

    def step_pre_backward(self, params: Params, optimizer, step: int, info: RasterInfo) -> None:
        """Before ``loss.backward()``: nothing to do for these strategies (the rasterizer already
        keeps the screen-space means' gradient)."""

    def step_post_backward(self, params: Params, optimizer, step: int, info: RasterInfo) -> None:
        """After ``loss.backward()`` and before ``optimizer.step()``'s successor: accumulate
        statistics, then densify, prune or reset on schedule."""
        self._accumulate(params, info)
        c = self.config
        if c.start <= step < c.stop and step % c.every == 0 and count(params) < c.max_gaussians:
            self.densify(params, optimizer)
            self._reset_statistics(params)
        if step % c.prune_every == 0:
            keep = torch.sigmoid(params["opacity"][:, 0]) >= c.prune_opacity
            if not keep.all():
                update_rows(params, optimizer, keep=keep)
                self.grad_sum, self.seen = self.grad_sum[keep], self.seen[keep]
        if c.reset_opacity_every and step % c.reset_opacity_every == 0:
            low = torch.full_like(params["opacity"], float(np.log(0.01 / 0.99)))
            reset_values(params, optimizer, "opacity", torch.minimum(params["opacity"].detach(), low))

    def densify(self, params: Params, optimizer) -> None:
        """Change the Gaussian set (subclasses)."""

    def mean_gradient(self) -> torch.Tensor:
        """(N,) mean screen-space gradient norm per Gaussian over the steps it was visible."""
        return self.grad_sum / self.seen.clamp_min(1)

    def _accumulate(self, params: Params, info: RasterInfo) -> None:
        n = count(params)
        if len(self.grad_sum) != n:
            self._reset_statistics(params)
        grad = info.means2d_grad
        if grad is None:
            return
        # Normalised to image units so thresholds do not depend on the resolution (as 3DGS).
        norm = (grad.detach() * self.image_size / 2).norm(dim=-1)
        self.grad_sum += torch.where(info.visible, norm, 0.0)
        self.seen += info.visible.float()

    def _reset_statistics(self, params: Params) -> None:
        device = params["opacity"].device
        self.grad_sum = torch.zeros(count(params), device=device)
        self.seen = torch.zeros(count(params), device=device)


class FixedStrategy(Strategy):
    """FlashAvatar's baseline: the initial UV samples, only pruned."""


def _random_barycentric(n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 3) points uniform over a triangle (sorted-uniform spacing)."""
    u = torch.rand(n, 2, generator=generator).sort(dim=1).values
    return torch.stack([u[:, 0], u[:, 1] - u[:, 0], 1 - u[:, 1]], dim=1)


def _children(params: Params, parents: torch.Tensor) -> Params:
    """Copies of the parents' rows (every entry)."""
    return {name: value.detach()[parents].clone() for name, value in params.items()}


class SamplingStrategy(Strategy):
    """FATE's sampling-based densification: draw ``add`` parents with probability proportional to
    their mean screen-space gradient; each child lands at a random barycentric point of its
    parent's triangle and inherits the parent's other attributes."""

    def densify(self, params: Params, optimizer) -> None:
        weights = self.mean_gradient()
        if weights.sum() <= 0:
            return
        room = self.config.max_gaussians - count(params)
        # Drawn on the CPU: the generator (and so the run's reproducibility) lives there.
        parents = torch.multinomial(
            weights.cpu(), min(self.config.add, room), replacement=True, generator=self.generator
        ).to(weights.device)
        children = _children(params, parents)
        children["bary"] = _random_barycentric(len(parents), self.generator).to(children["bary"])
        update_rows(params, optimizer, append=children)


class ThresholdStrategy(Strategy):
    """3DGS adaptive density control in the triangle frame (as GaussianAvatars): Gaussians whose mean
    screen-space gradient exceeds the threshold are cloned if small, split in two if large
    (children 1.6x smaller, placed around the parent on its triangle)."""

    def densify(self, params: Params, optimizer) -> None:
        c = self.config
        hot = self.mean_gradient() > c.grad_threshold
        if not hot.any():
            return
        large = params["log_scale"].detach().max(-1).values > np.log(c.split_scale)
        clone, split = torch.nonzero(hot & ~large)[:, 0], torch.nonzero(hot & large)[:, 0]
        room = c.max_gaussians - count(params)
        clone, split = clone[: max(room, 0)], split[: max(room - len(clone), 0) // 2]
        cloned = _children(params, clone)
        halves = _children(params, split.repeat(2))
        halves["log_scale"] -= np.log(1.6)
        jitter = 0.5 * (_random_barycentric(len(halves["bary"]), self.generator) - 1 / 3)
        halves["bary"] = (halves["bary"] + jitter.to(halves["bary"])).clamp_min(0)
        halves["bary"] /= halves["bary"].sum(-1, keepdim=True)
        keep = torch.ones(count(params), dtype=torch.bool, device=hot.device)
        keep[split] = False
        appended = {name: torch.cat([cloned[name], halves[name]]) for name in params}
        update_rows(params, optimizer, keep=keep, append=appended)


def make_strategy(config: StrategyConfig, image_size: int, seed: int = 0) -> Strategy:
    kinds = {"fixed": FixedStrategy, "sampling": SamplingStrategy, "threshold": ThresholdStrategy}
    if config.name not in kinds:
        raise ValueError(f"unknown strategy {config.name!r}; choose one of {', '.join(STRATEGIES)}")
    return kinds[config.name](config, image_size, seed)
