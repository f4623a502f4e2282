"""The strategy contract (docs/architecture.md, section 4; gsplat's strategies): hooks around
each training step that densify and prune the Gaussians, with their state kept outside the strategy.

A strategy is one class in one file, registered by name (:func:`register_strategy`) with its own
``Config`` dataclass holding only its own fields; the run config's ``strategy`` slot holds the
chosen one (``--strategy NAME``, ``--set strategy.NAME.FIELD=VALUE``).

A strategy is stateless apart from its config and what :meth:`Strategy.plan` derives from the
training frames. Its :class:`StrategyState` (per-Gaussian
statistics, a random generator) lives with the trainer, is checkpointed through
:meth:`StrategyState.state_dict`, and follows every row operation: strategies change the
Gaussians only through :meth:`StepContext.change_rows`, which updates the avatar, the optimizers'
moments and the state together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.gaussians.rows import RowChange, reset_parameter
from headsplat.io.settings import registering
from headsplat.metrics import ssim_map

if TYPE_CHECKING:
    from headsplat.avatar.avatar import Avatar
    from headsplat.avatar.condition import Camera, Condition
    from headsplat.avatar.gaussians.store import GaussianStore
    from headsplat.render import Rendering


@dataclass
class StrategyConfig:
    """What every strategy does: pruning and the opacity reset (steps are optimisation steps)."""

    prune_opacity: float = 0.005
    prune_every: int = 100
    reset_opacity_every: int = 0
    """Reset opacities to 0.01 every this many steps (0: never; 3DGS uses 3000)."""


@dataclass
class DensificationConfig(StrategyConfig):
    """When a densifying strategy densifies."""

    start: int = 200
    """No densification before this step (let the initial Gaussians settle)."""
    stop: int = 10_000_000
    """No densification from this step on."""
    every: int = 100
    """Densify every this many steps."""
    max_gaussians: int = 200_000


class StrategyState:
    """A strategy's state: per-Gaussian ``columns`` (N, ...) and a CPU random ``generator`` (its
    draws are reproducible whatever the training device)."""

    def __init__(self, columns: dict[str, Tensor], generator: torch.Generator):
        self.columns = columns
        self.generator = generator

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def check(self, n_gaussians: int) -> None:
        """Raise if the statistics do not hold one row per Gaussian (a row operation went around
        :meth:`StepContext.change_rows`)."""
        if len(self) != n_gaussians:
            raise RuntimeError(
                f"the strategy's statistics hold {len(self)} rows for {n_gaussians} Gaussians: a row "
                "operation bypassed Avatar.change_rows"
            )

    def reset(self) -> None:
        """Zero every statistic."""
        for name, column in self.columns.items():
            self.columns[name] = torch.zeros_like(column)

    def apply_row_change(self, change: RowChange) -> None:
        """Kept rows keep their statistics; new rows start at zero."""
        self.columns = {name: change.apply(column) for name, column in self.columns.items()}

    def state_dict(self) -> dict[str, Tensor]:
        return {**self.columns, "generator": self.generator.get_state()}

    def load_state_dict(self, values: dict[str, Tensor], device: torch.device | str) -> None:
        """Restore :meth:`state_dict`, the statistics on ``device`` (the generator stays on the CPU)."""
        missing = set(self.columns) - set(values)
        if missing:
            raise KeyError(f"the strategy state lacks {sorted(missing)}")
        self.columns = {name: values[name].to(device) for name in self.columns}
        self.generator.set_state(values["generator"].cpu())


@dataclass
class StepContext:
    """What a strategy's hooks see of one training step.

    Attributes:
        step: the step number (1 for the first). frame: the training frame.
        condition, camera: what was rendered. rendering: its result (``info`` carries the
            screen-space gradients after backward). target: (H, W, 3) the frame it was compared with.
        avatar: the avatar. state: the strategy's state. optimizers: every optimizer of the run.
    """

    step: int
    frame: int
    condition: Condition
    camera: Camera
    rendering: Rendering
    target: Tensor
    avatar: Avatar
    state: StrategyState
    optimizers: Sequence[torch.optim.Optimizer] = ()
    _error: Tensor | None = field(default=None, repr=False)

    @property
    def gaussians(self) -> GaussianStore:
        return self.avatar.gaussians

    def change_rows(
        self,
        keep: Tensor | None = None,
        appended: dict[str, Tensor] | None = None,
        parents: Tensor | None = None,
    ) -> RowChange:
        """The one row operation (:meth:`headsplat.avatar.Avatar.change_rows`), carrying the
        optimizers and this strategy's state along."""
        return self.avatar.change_rows(
            keep, appended, parents, optimizers=self.optimizers, states=(self.state,)
        )

    def reset_column(self, name: str, values: Tensor) -> None:
        """Overwrite a Gaussian column and zero its optimizer moments (3DGS's opacity reset)."""
        reset_parameter(self.gaussians, name, values, self.optimizers)

    def error_map(self) -> Tensor:
        """(H, W) the step's per-pixel fused error, 0.8 L1 + 0.2 (1 - SSIM), both averaged over the
        channels (STAvatar's perceptual error, Zhao et al. 2025), computed on first request."""
        if self._error is None:
            with torch.no_grad():
                image, target = self.rendering.image.detach(), self.target
                l1 = (image - target).abs().mean(-1)
                self._error = 0.8 * l1 + 0.2 * (1 - ssim_map(image, target).mean(-1))
        return self._error

    def footprint_sums(self, per_pixel: Tensor | None = None) -> Tensor:
        """Each Gaussian's rendering weight summed over its footprint, weighted by ``per_pixel``
        (:meth:`headsplat.avatar.Avatar.rendering_weights`: None or (H, W) -> (N,), (H, W, C) ->
        (N, C)); one extra render and backward pass."""
        return self.avatar.rendering_weights(self.condition, self.camera, per_pixel)


class Strategy:
    """Base: accumulates the screen-space gradient statistics and prunes; densifying strategies
    derive from :class:`DensifyingStrategy`. Subclasses set ``Config`` and take
    ``(config, image_size)``.

    Args:
        config: settings. image_size: pixels, to normalise screen-space gradients.
    """

    Config: ClassVar[type[StrategyConfig]] = StrategyConfig
    needs: ClassVar[frozenset[str]] = frozenset()
    """What the step context must offer beyond the rendering (e.g. ``error_map``); informative."""

    def __init__(self, config: StrategyConfig, image_size: int):
        self.config = config
        self.image_size = image_size

    def plan(self, frames: np.ndarray, motion: np.ndarray, steps: int, seed: int = 0) -> dict:
        """Before the first step (and again on resume): see the run's training ``frames`` (T,),
        their ``motion`` (T, D) (:func:`~headsplat.strategy.frame_clusters.motion_features`) and
        its length in ``steps``. Returns what to record in the avatar's training info; the base
        needs nothing. What a strategy derives here must be a function of these arguments, so that
        a resumed run derives the same."""
        return {}

    def initialize_state(self, n_gaussians: int, device: torch.device | str, seed: int = 0) -> StrategyState:
        """Zero statistics for ``n_gaussians`` and a generator seeded with ``seed``."""
        columns = {name: torch.zeros(n_gaussians, device=device) for name in ("grad_sum", "seen")}
        return StrategyState(columns, torch.Generator().manual_seed(seed))

    def step_pre_backward(self, ctx: StepContext) -> None:
        """Before ``loss.backward()``: nothing for these strategies (the rasterizer already keeps
        the screen-space means' gradient)."""

    def step_post_backward(self, ctx: StepContext) -> None:
        """After the optimizer steps: accumulate statistics, then densify, prune or reset on schedule."""
        self._accumulate(ctx)
        c = self.config
        if self.densifies_at(ctx.step, len(ctx.gaussians)):
            self.densify(ctx)
            ctx.state.reset()
        if ctx.step % c.prune_every == 0:
            keep = torch.sigmoid(ctx.gaussians.opacity[:, 0]) >= c.prune_opacity
            if not keep.all():
                ctx.change_rows(keep=keep)
        if c.reset_opacity_every and ctx.step % c.reset_opacity_every == 0:
            low = torch.full_like(ctx.gaussians.opacity, float(np.log(0.01 / 0.99)))
            ctx.reset_column("opacity", torch.minimum(ctx.gaussians.opacity.detach(), low))

    def densifies_at(self, step: int, n_gaussians: int) -> bool:
        """Whether ``step`` densifies (never, here)."""
        return False

    def densify(self, ctx: StepContext) -> None:
        """Change the Gaussian set (subclasses)."""

    @staticmethod
    def mean_gradient(state: StrategyState) -> Tensor:
        """(N,) mean screen-space gradient norm per Gaussian over the steps it was visible."""
        return state.columns["grad_sum"] / state.columns["seen"].clamp_min(1)

    def screen_gradient(self, ctx: StepContext) -> Tensor | None:
        """(N,) each Gaussian's screen-space gradient norm this step, 0 where it was not visible
        (None: the rasterizer kept no gradient)."""
        info = ctx.rendering.info
        if info.means2d_grad is None:
            return None
        # Normalised to image units so thresholds do not depend on the resolution (as 3DGS).
        norm = (info.means2d_grad.detach() * self.image_size / 2).norm(dim=-1)
        return torch.where(info.visible, norm, 0.0)

    def _accumulate(self, ctx: StepContext) -> None:
        ctx.state.check(len(ctx.gaussians))
        norm = self.screen_gradient(ctx)
        if norm is None:
            return
        ctx.state.columns["grad_sum"] += norm
        ctx.state.columns["seen"] += ctx.rendering.info.visible.float()


class DensifyingStrategy(Strategy):
    """A strategy that densifies on the :class:`DensificationConfig` schedule."""

    Config: ClassVar[type[StrategyConfig]] = DensificationConfig

    def densifies_at(self, step: int, n_gaussians: int) -> bool:
        c = self.config
        return c.start <= step < c.stop and step % c.every == 0 and n_gaussians < c.max_gaussians


STRATEGIES: dict[str, type[Strategy]] = {}
"""The registry: ``headsplat train --strategy`` offers these names."""
register_strategy = registering(STRATEGIES, "strategy")
"""Class decorator: ``@register_strategy("name")`` makes a strategy available by name."""


def shared_opacity(logit: Tensor, copies: Tensor) -> Tensor:
    """Opacity logits (N, 1) for N Gaussians each replaced by ``copies`` (N,) overlapping copies
    that together keep its transmittance: 1 - (1 - o)^(1 / copies) (MCMC-3DGS's opacity rule)."""
    transmittance = (1 - torch.sigmoid(logit)).clamp_min(1e-6)
    opacity = 1 - transmittance ** (1 / copies.to(logit)[:, None])
    return torch.logit(opacity.clamp(1e-6, 1 - 1e-6))


def random_barycentric(n: int, generator: torch.Generator) -> Tensor:
    """(n, 3) points uniform over a triangle (sorted-uniform spacing)."""
    u = torch.rand(n, 2, generator=generator).sort(dim=1).values
    return torch.stack([u[:, 0], u[:, 1] - u[:, 0], 1 - u[:, 1]], dim=1)


def copy_rows(store: GaussianStore, parents: Tensor) -> dict[str, Tensor]:
    """Copies of the store's rows ``parents`` (every column)."""
    return {name: value.detach()[parents].clone() for name, value in store.columns().items()}
