"""Test-time tracking refinement: fit held-out frames' pose, expression and gaze to their images with
the avatar frozen.

Landmark tracking leaves each frame about a degree of head rotation, a millimetre or two of
translation and expressions the landmarks cannot pin (brows, cheeks); the avatar renders those
errors as silhouettes a few pixels off and features in the wrong place, which held-out metrics
then charge to the avatar. IMavatar and PointAvatar therefore evaluate after optimising the test
frames' pose and expression against the test images with the trained avatar frozen (PointAvatar's
``scripts/test.py``: "only used for calculating metrics"). This module does the same on the
frames' conditions, and fits the gaze too (``lr_gaze``, see there): landmark
tracking pins the eyeballs by four iris points a few pixels wide, so an upward look it missed is
charged to the avatar. The avatar is not changed.

It lives in ``training/`` because training uses the same fit on its own frames (the pose
alignment, :mod:`headsplat.training.align`); eval's refined protocol
(:mod:`headsplat.evaluation.evaluate`) calls it on the test frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Camera, Condition
from headsplat.head.model import project_expression
from headsplat.metrics import ssim


@dataclass(frozen=True)
class RefineConfig:
    steps: int = 20
    """Adam steps per frame; each is one render and backward pass (~0.25 s at 256 px on the CPU;
    measurements: docs/quality.md, section "`training.refine.RefineConfig.steps`")."""
    lr_rotation: float = 3e-3
    """Radians per step, about the head."""
    lr_translation: float = 1e-2
    """Centimetres per step (a pixel is ~0.1 cm at 256 px)."""
    lr_expression: float = 2e-2
    lr_gaze: float = 1e-2
    """Radians per step of one (yaw, pitch) correction shared by both eyes (they move together);
    0 leaves the gaze as tracked. With the eyes drawn on the eyeballs (the lids' Gaussians capped
    at their margins, :mod:`headsplat.avatar.openings`) it helps the eye region. Before that cap it
    cost the eye region, the lids' Gaussians holding the iris; avatars trained before it (format 2)
    are better scored with ``lr_gaze=0`` (measurements: docs/quality.md, section
    "`training.refine.RefineConfig.lr_gaze`")."""
    max_gaze: float = 0.6
    """Radians: the corrected gaze stays within the eyeball's range of motion (about 35 degrees)."""
    ssim_weight: float = 0.2
    """The image loss is training's: L1 + ssim_weight (1 - SSIM)."""


DEFAULT_REFINE = RefineConfig()


class Corrections(NamedTuple):
    """Per-frame additive corrections of F conditions (:meth:`Condition.corrected`).

    Attributes:
        rotation: (F, 3) axis-angle about the head. translation: (F, 3) cm.
        expression: (F, E). gaze: (F, 2) (yaw, pitch) shared by both eyes.
    """

    rotation: Tensor
    translation: Tensor
    expression: Tensor
    gaze: Tensor

    def apply(self, conditions: Sequence[Condition]) -> list[Condition]:
        return [
            condition.corrected(self.rotation[i], self.translation[i], self.expression[i], self.gaze[i])
            for i, condition in enumerate(conditions)
        ]


def fit_corrections(
    avatar: Avatar,
    conditions: Sequence[Condition],
    camera: Camera,
    targets: Sequence[Tensor],
    *,
    background: float,
    config: RefineConfig = DEFAULT_REFINE,
    on_frame: Callable[[int], None] | None = None,
) -> Corrections:
    """Fit a rotation (axis-angle about the head), translation, expression and gaze correction of
    each condition to its target image (S, S, 3, at ``camera``'s size), one frame after the other.

    Each frame starts from the previous one's correction (tracking errors drift slowly through a
    clip, so consecutive frames start close to their optimum). The expression stays in [0, 1] and
    the gaze within ``max_gaze`` by projection after every step, so no correction is stuck where a
    clamp would zero its gradient. A correction whose rate is 0 stays 0.
    ``on_frame(n)`` is called after the n-th frame (a progress display). The corrected conditions
    are ``fit_corrections(...).apply(conditions)``.
    """
    flags = [(p, p.requires_grad) for p in avatar.parameters()]
    avatar.requires_grad_(False)
    like = conditions[0].rotation
    rotation = torch.zeros(3).to(like)
    translation = torch.zeros(3).to(like)
    expression = torch.zeros_like(conditions[0].expression)
    gaze = torch.zeros(2).to(like)
    fitted: list[tuple[Tensor, ...]] = []
    try:
        for condition, target in zip(conditions, targets, strict=True):
            tracked = condition.expression
            rotation = rotation.detach().clone().requires_grad_(True)
            translation = translation.detach().clone().requires_grad_(True)
            expression = project_expression(expression.detach(), tracked).requires_grad_(True)
            gaze = project_gaze(gaze.detach(), condition.gaze, config.max_gaze).requires_grad_(True)
            optimizer = torch.optim.Adam(
                [
                    {"params": [rotation], "lr": config.lr_rotation},
                    {"params": [translation], "lr": config.lr_translation},
                    {"params": [expression], "lr": config.lr_expression},
                    {"params": [gaze], "lr": config.lr_gaze},
                ]
            )
            for _ in range(config.steps):
                corrected = condition.corrected(rotation, translation, expression, gaze)
                image = avatar.render(corrected, camera, background).image
                loss = (image - target).abs().mean() + config.ssim_weight * (1 - ssim(image, target))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    expression.copy_(project_expression(expression, tracked))
                    gaze.copy_(project_gaze(gaze, condition.gaze, config.max_gaze))
            fitted.append(tuple(t.detach().clone() for t in (rotation, translation, expression, gaze)))
            if on_frame is not None:
                on_frame(len(fitted))
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)
    return Corrections(*(torch.stack(column) for column in zip(*fitted, strict=True)))


def project_gaze(correction: Tensor, gaze: Tensor, limit: float) -> Tensor:
    """The shared (yaw, pitch) ``correction`` (2,) nearest to the given one that keeps both eyes'
    corrected ``gaze + correction`` ((2, 2) + (2,)) within +-``limit`` radians."""
    low = (-limit - gaze).amax(dim=0)
    high = (limit - gaze).amin(dim=0)
    return torch.minimum(torch.maximum(correction, low), high.maximum(low))
