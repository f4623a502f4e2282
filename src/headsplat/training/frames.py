"""Per-frame corrections of the training frames' tracked pose and expression (FATE fine-tunes the
tracking with the Gaussians). They belong to the training data, not to the avatar: a trained
avatar renders whatever condition it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from headsplat.avatar.condition import Condition
from headsplat.avatar.modules import ParamGroup


@dataclass
class FrameCorrectionsConfig:
    lr: float = 0.0
    """Adam's rate for the training frames' pose and expression corrections (FATE: 5e-4). Off by
    default. Measured at 5e-4 (2000 steps; held out, refined / tracked, :mod:`headsplat.evaluation`):
    d18 32.23 -> 32.95 / 28.21 -> 25.20 dB, d10 25.83 -> 26.72 / 21.42 -> 22.09 dB. The avatar
    fits the corrected training poses and can render the tracker's own poses worse, and the
    tracker's poses are what reenactment drives it with."""


def project_expression(correction: Tensor, tracked: Tensor) -> Tensor:
    """The expression ``correction`` moved so that ``tracked + correction`` lies in [0, 1]
    (projected gradient descent: a clamp inside the render would give corrections outside the
    range a zero gradient, and they could never come back)."""
    return (tracked + correction).clamp(0, 1) - tracked


class FrameCorrections(nn.Module):
    """Learnable per-frame rotation (axis-angle about the head), translation (cm) and expression
    corrections of F frames; frozen (no gradient, no optimizer group) when the rate is 0."""

    def __init__(self, n_frames: int, n_expression: int, config: FrameCorrectionsConfig):
        super().__init__()
        self.config = config
        learned = config.lr > 0
        self.rotation = nn.Parameter(torch.zeros(n_frames, 3), requires_grad=learned)
        self.translation = nn.Parameter(torch.zeros(n_frames, 3), requires_grad=learned)
        self.expression = nn.Parameter(torch.zeros(n_frames, n_expression), requires_grad=learned)

    @property
    def learned(self) -> bool:
        return self.config.lr > 0

    def param_groups(self) -> list[ParamGroup]:
        if not self.learned:
            return []
        return [ParamGroup(name, [p], self.config.lr) for name, p in self.named_parameters()]

    def apply(self, f: int, condition: Condition) -> Condition:
        """Frame ``f``'s ``condition`` with its corrections (unchanged when they are frozen)."""
        if not self.learned:
            return condition
        return condition.corrected(self.rotation[f], self.translation[f], self.expression[f])

    @torch.no_grad()
    def project_(self, tracked_expression: Tensor) -> None:
        """Keep every frame's corrected expression in [0, 1]; ``tracked_expression`` (F, E)."""
        self.expression.copy_(project_expression(self.expression, tracked_expression))
