"""Per-frame corrections of the training frames' tracked pose and expression (FATE fine-tunes the
tracking with the Gaussians) and, with the ``frame_code`` deformer, each training frame's code
(:mod:`headsplat.avatar.deformers.frame_code`). They belong to the training data, not to the
avatar: a trained avatar renders whatever condition it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from headsplat.avatar.condition import Condition
from headsplat.avatar.deformers.frame_code import CODE, FrameCodeConfig
from headsplat.avatar.modules import ParamGroup
from headsplat.head.model import project_expression


@dataclass
class FrameCorrectionsConfig:
    lr: float = 0.0
    """Adam's rate for the training frames' pose and expression corrections (FATE: 5e-4). Off by
    default: at FATE's rate the refined held-out scores (:mod:`headsplat.evaluation`) rose but the
    tracked ones fell far on one of the two clips. The avatar fits the corrected training poses and
    can render the tracker's own poses worse, and the tracker's poses are what reenactment drives
    it with (measurements: docs/quality.md, section "`training.frames.FrameCorrectionsConfig.lr`")."""
    centred: bool = True
    """Keep each correction's mean over the training frames at zero: the tracker's poses and
    expressions may be noisy per frame but are unbiased on average, so only the per-frame jitter
    is corrected and the avatar stays in the tracker's frame (renders its poses: the tracked
    protocol, reenactment); a correction common to all frames would move the avatar's frame away
    from the tracker's. Centred, the held-out frames scored a little better under both protocols
    (measurements: docs/quality.md, section "`training.frames.FrameCorrectionsConfig.centred`").
    The alignment's corrections are centred too."""
    lr_rotation: float = 0.0
    """Rate of the rotation corrections (radians per step) where above 0; else ``lr``
    (GaussianAvatars fine-tunes the tracked rotation at 1e-5)."""
    lr_translation: float = 0.0
    """Rate of the translation corrections (cm per step) where above 0; else ``lr``
    (GaussianAvatars: 1e-6 m, 1e-4 cm)."""
    lr_expression: float = 0.0
    """Rate of the expression corrections (weights per step) where above 0; else ``lr``
    (GaussianAvatars: 1e-3)."""
    align_at: float = 0.0
    """Fraction of the steps after which every training frame's pose is fitted to its image once,
    the avatar frozen (:mod:`headsplat.training.align`); 0: never. Off by default: the training
    frames fit better at their aligned poses, but held out it gained little refined and lost
    tracked, and the pass takes minutes on 2 cores (measurements: docs/quality.md, section
    "`training.frames.FrameCorrectionsConfig.align_at`")."""
    align_size: int = 128
    """Side (px) of the images the alignment fits (at most the training size)."""
    align_steps: int = 8
    """Adam steps per frame of the alignment."""


def correction_rates(config: FrameCorrectionsConfig) -> dict[str, float]:
    """Each correction's Adam rate: its own where set, else the shared ``lr`` (0: not learned)."""
    own = {
        "rotation": config.lr_rotation,
        "translation": config.lr_translation,
        "expression": config.lr_expression,
    }
    return {name: rate if rate > 0 else config.lr for name, rate in own.items()}


class FrameCorrections(nn.Module):
    """Per-frame rotation (axis-angle about the head), translation (cm) and expression corrections
    of F frames: learned with the avatar when the rate is above 0 (else no gradient, no optimizer
    group), and set by the pose alignment (:mod:`headsplat.training.align`) when it is on. With a
    ``code`` config, each frame's code (F, size) too, learned at its ``lr_code``."""

    def __init__(
        self,
        n_frames: int,
        n_expression: int,
        config: FrameCorrectionsConfig,
        *,
        code: FrameCodeConfig | None = None,
    ):
        super().__init__()
        self.config = config
        self.rates = correction_rates(config)
        learned = {name: rate > 0 for name, rate in self.rates.items()}
        self.rotation = nn.Parameter(torch.zeros(n_frames, 3), requires_grad=learned["rotation"])
        self.translation = nn.Parameter(torch.zeros(n_frames, 3), requires_grad=learned["translation"])
        self.expression = nn.Parameter(
            torch.zeros(n_frames, n_expression), requires_grad=learned["expression"]
        )
        if code is not None:
            self.rates["code"] = code.lr_code
            self.code = nn.Parameter(torch.zeros(n_frames, code.size))

    @property
    def learned(self) -> bool:
        return any(rate > 0 for rate in self.rates.values())

    @property
    def active(self) -> bool:
        """Whether the corrections can be non-zero (learned, or set by the alignment)."""
        return self.learned or self.config.align_at > 0

    def param_groups(self) -> list[ParamGroup]:
        return [
            ParamGroup(name, [p], self.rates[name])
            for name, p in self.named_parameters()
            if self.rates[name] > 0
        ]

    def apply(self, f: int, condition: Condition) -> Condition:
        """Frame ``f``'s ``condition`` with its corrections (unchanged when they cannot be set)."""
        if not self.active:
            return condition
        return corrected_condition(condition, dict(self.named_parameters()), f)

    @torch.no_grad()
    def project_(self, tracked_expression: Tensor, frames: Tensor) -> None:
        """Keep every frame's corrected expression in [0, 1] and, when ``centred``, every
        correction's mean over ``frames`` (the training frames, (N,) long) at zero;
        ``tracked_expression`` (F, E)."""
        self.centre_(frames)
        self.expression.copy_(project_expression(self.expression, tracked_expression))

    @torch.no_grad()
    def centre_(self, frames: Tensor) -> None:
        """When ``centred``: remove each correction's (and code's) mean over ``frames`` (N,) long."""
        if self.config.centred:
            for correction in self.parameters():
                correction[frames] -= correction[frames].mean(0)


def corrected_condition(condition: Condition, corrections: Mapping[str, Tensor], f: int) -> Condition:
    """Frame ``f``'s ``condition`` with its ``corrections`` (``rotation``, ``translation``,
    ``expression``, (F, ...) each, as :class:`FrameCorrections` holds them) and its ``code``
    where the corrections have codes."""
    condition = condition.corrected(
        corrections["rotation"][f], corrections["translation"][f], corrections["expression"][f]
    )
    if "code" in corrections:
        condition = replace(condition, extras={**condition.extras, CODE: corrections["code"][f]})
    return condition
