"""Row operations: the one way Gaussians are removed and added (pruning, densification, completion).

Every per-Gaussian tensor in a training run has the Gaussians along dimension 0: the store's
columns, a deformer's per-Gaussian tensors, a strategy's statistics, and Adam's moments of every
learnable one. A row operation is described once, as a :class:`RowChange` (which rows stay, which
old row each new row derives from), and every holder applies it to its own tensors
(:meth:`RowChange.apply`, :func:`replace_parameter`), so nothing can fall out of step (the role of
gsplat's ``strategy.ops``; the peers' hand-written per-attribute bookkeeping is what this avoids).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class RowChange:
    """Rows ``keep`` of the old Gaussians stay, in order; then ``len(parents)`` rows are appended.

    Attributes:
        keep: (N_old,) bool.
        parents: (A,) long: the old row each appended row derives from (a clone, a split half, a
            sample on the parent's triangle), or -1 for a fresh row (completion).
        appended: the store's columns of the appended rows, each (A, ...).
    """

    keep: Tensor
    parents: Tensor
    appended: dict[str, Tensor] = field(default_factory=dict)

    @staticmethod
    def make(
        n_old: int,
        *,
        keep: Tensor | None = None,
        appended: dict[str, Tensor] | None = None,
        parents: Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> RowChange:
        """A change of ``n_old`` rows; ``keep`` None keeps all, ``parents`` None marks every
        appended row fresh."""
        appended = appended or {}
        n_new = len(next(iter(appended.values()))) if appended else 0
        keep = torch.ones(n_old, dtype=torch.bool, device=device) if keep is None else keep.to(device)
        if parents is None:
            parents = torch.full((n_new,), -1, dtype=torch.long, device=device)
        if len(keep) != n_old or len(parents) != n_new:
            raise ValueError(
                f"a change of {n_old} rows got keep {len(keep)}, parents {len(parents)}, {n_new} new"
            )
        return RowChange(keep, parents.to(device=device, dtype=torch.long), appended)

    @property
    def n_old(self) -> int:
        return len(self.keep)

    @property
    def n_new(self) -> int:
        return int(self.keep.sum()) + len(self.parents)

    def apply(self, column: Tensor, fill: float = 0.0, *, inherit: bool = False) -> Tensor:
        """(N_new, ...) the column after the change: kept rows, then for each appended row its
        parent's row when ``inherit`` (fresh rows and ``inherit=False`` get ``fill``)."""
        if len(column) != self.n_old:
            raise ValueError(f"a per-Gaussian column has {len(column)} rows, the Gaussians {self.n_old}")
        new = torch.full(
            (len(self.parents), *column.shape[1:]), fill, dtype=column.dtype, device=column.device
        )
        if inherit:
            derived = self.parents >= 0
            new[derived] = column[self.parents[derived]]
        return torch.cat([column[self.keep], new])

    def remap(self, index: Tensor) -> Tensor:
        """Old row numbers (any shape, -1 for none) -> new row numbers, -1 where the row was removed
        (for index-valued columns such as neighbour ids)."""
        new_index = torch.cumsum(self.keep.long(), 0) - 1
        new_index[~self.keep] = -1
        mapped = new_index[index.clamp_min(0)]
        return torch.where(index >= 0, mapped, torch.full_like(mapped, -1))


def replace_parameter(
    module: nn.Module,
    name: str,
    rows: Tensor,
    *,
    optimizers: Iterable[torch.optim.Optimizer],
    change: RowChange,
) -> nn.Parameter:
    """Put ``rows`` (N_new, ...) in place of the per-Gaussian parameter ``module.name`` and carry the
    optimizers' state along ``change`` (kept rows keep their moments; appended rows start at zero).
    """
    old = getattr(module, name)
    new = nn.Parameter(rows.detach().contiguous(), requires_grad=old.requires_grad)
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            for i, param in enumerate(group["params"]):
                if param is not old:
                    continue
                group["params"][i] = new
                state = optimizer.state.pop(old, {})
                optimizer.state[new] = {
                    key: change.apply(value) if _per_row(value, change.n_old) else value
                    for key, value in state.items()
                }
    setattr(module, name, new)
    return new


def reset_parameter(
    module: nn.Module, name: str, values: Tensor, optimizers: Iterable[torch.optim.Optimizer]
):
    """Overwrite a per-Gaussian parameter's values (e.g. the 3DGS opacity reset) and zero its
    optimizer moments."""
    param = getattr(module, name)
    with torch.no_grad():
        param.copy_(values)
    for optimizer in optimizers:
        for value in optimizer.state.get(param, {}).values():
            if torch.is_tensor(value) and value.dim() > 0:
                value.zero_()


def _per_row(value, n_rows: int) -> bool:
    return torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == n_rows
