"""The Gaussian parameter store: a dict of per-Gaussian tensors, and the one routine that keeps an
optimizer's state aligned with it when Gaussians are added, split, removed or reset (the role of
gsplat's ``strategy.ops``; the peers' hand-written per-attribute bookkeeping is what this avoids).

Every value of the dict has the Gaussians along dimension 0. Learnable ones are
``torch.nn.Parameter`` and sit in an optimizer group whose ``"name"`` is their key; the others
(e.g. the binding's triangle index and barycentric weights) are plain tensors.
"""

from __future__ import annotations

import torch

Params = dict[str, torch.Tensor]


def count(params: Params) -> int:
    """Number of Gaussians."""
    return len(next(iter(params.values())))


def make_optimizer(params: Params, learning_rates: dict[str, float]) -> torch.optim.Adam:
    """Adam with one named group per learnable entry (``learning_rates`` names them)."""
    groups = [{"params": [params[name]], "lr": lr, "name": name} for name, lr in learning_rates.items()]
    return torch.optim.Adam(groups, eps=1e-15)


def _group(optimizer: torch.optim.Optimizer, name: str) -> dict | None:
    return next((g for g in optimizer.param_groups if g.get("name") == name), None)


def update_rows(
    params: Params,
    optimizer: torch.optim.Optimizer | None,
    keep: torch.Tensor | None = None,
    append: Params | None = None,
) -> Params:
    """Remove and/or add Gaussians in every entry, carrying the optimizer state along.

    Args:
        params: the store (updated in place and returned).
        optimizer: its optimizer, or None.
        keep: (N,) bool rows to keep (None keeps all).
        append: new rows for every entry of ``params`` (same keys), appended after the kept
            ones; their optimizer moments start at zero.
    """
    if append is not None and set(append) != set(params):
        raise ValueError(f"append has keys {sorted(append)}, the store has {sorted(params)}")
    for name, old in params.items():
        rows = old.detach() if keep is None else old.detach()[keep]
        if append is not None:
            rows = torch.cat([rows, append[name].to(rows)])
        if not isinstance(old, torch.nn.Parameter):
            params[name] = rows
            continue
        new = torch.nn.Parameter(rows.contiguous(), requires_grad=old.requires_grad)
        group = _group(optimizer, name) if optimizer is not None else None
        if group is not None:
            state = optimizer.state.pop(old, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape[:1] == old.shape[:1] and value.dim() > 0:
                    value = value if keep is None else value[keep]
                    if append is not None:
                        value = torch.cat([value, value.new_zeros((len(append[name]), *value.shape[1:]))])
                    state[key] = value
            optimizer.state[new] = state
            group["params"] = [new]
        params[name] = new
    return params


def reset_values(
    params: Params, optimizer: torch.optim.Optimizer | None, name: str, values: torch.Tensor
) -> None:
    """Overwrite one entry's values (e.g. the 3DGS opacity reset) and zero its optimizer moments."""
    with torch.no_grad():
        params[name].copy_(values)
    group = _group(optimizer, name) if optimizer is not None else None
    if group is not None:
        for value in optimizer.state.get(params[name], {}).values():
            if torch.is_tensor(value) and value.dim() > 0:
                value.zero_()
