"""The contract every learnable part of an avatar keeps (docs/architecture.md, section 4), so
that the trainer can loop over the parts and name none of them (nerfstudio's
``get_param_groups`` / ``get_loss_dict``).

An :class:`AvatarModule` declares

* :meth:`~AvatarModule.param_groups`: its learnable tensors with their learning rates;
* :meth:`~AvatarModule.losses`: its regularisers, each a ``(weight, value)``;
* its checkpoint tensors: everything registered as ``nn.Parameter`` or persistent buffer (its
  ``state_dict``); derived tensors that can be rebuilt from the config are non-persistent;
* :meth:`~AvatarModule.apply_row_change`: how its per-Gaussian tensors follow a row operation.

:func:`headsplat.training.sanity.check_sanity` fails loudly when a learnable tensor escapes the
contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from headsplat.avatar.avatar import Avatar
    from headsplat.avatar.condition import Condition
    from headsplat.avatar.gaussians.rows import RowChange
    from headsplat.render import Rendering


@dataclass
class ParamGroup:
    """Learnable tensors that share one learning rate.

    Attributes:
        name: unique within the module; the trainer prefixes the module's path in the avatar.
        params: the tensors. lr: Adam's learning rate. weight_decay: Adam's L2 coefficient.
        per_gaussian: the tensors have one row per Gaussian (row operations replace them).
        eps: Adam's epsilon (3DGS uses 1e-15 for the Gaussians' attributes).
    """

    name: str
    params: list[nn.Parameter]
    lr: float
    weight_decay: float = 0.0
    per_gaussian: bool = False
    eps: float = 1e-8


@dataclass
class LossContext:
    """What a regulariser may read: the step, the frame's condition and rendering, the avatar."""

    step: int
    condition: Condition
    rendering: Rendering
    avatar: Avatar


Losses = dict[str, tuple[float, Tensor]]
"""Named regularisers: (weight, value); the trainer adds weight x value to the loss."""


class AvatarModule(nn.Module):
    """Base of the avatar's parts (the Gaussian store, mesh and Gaussian deformers)."""

    def param_groups(self) -> list[ParamGroup]:
        """The learnable tensors with their learning rates (none by default)."""
        return []

    def losses(self, ctx: LossContext) -> Losses:
        """Regularisers of this module (none by default)."""
        return {}

    def apply_row_change(self, change: RowChange, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        """Make the per-Gaussian tensors follow ``change`` (nothing by default). Parameters go
        through :func:`headsplat.avatar.gaussians.rows.replace_parameter`, so their optimizer
        state follows too; buffers through :meth:`RowChange.apply` (and :meth:`RowChange.remap`
        for row numbers)."""
