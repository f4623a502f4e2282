"""Motion transfer from a driver's tracking to an avatar: pure functions on tensors.

Expressions transfer as deltas, so what is the driver's face rather than its motion stays behind:
the avatar shows its rest expression (``Avatar.neutral_expression``, its clip's most neutral frame's,
the face the turntable and the export show) plus whatever the driver does beyond the driver's rest,
clamped to the blendshapes' range [0, 1]. The driver's rest is each weight's 10th percentile over
its clip (:func:`rest_expression`): landmark tracking decomposes a face at rest into a few weights
that stay on all clip long (antagonists such as eyeLookIn and eyeLookOut on together), which any
low percentile keeps, while a driver who talks has the mouth open most of the time, which a median
would count as rest (with the median, a reenactment's mouth barely opened; measurements:
docs/quality.md, section "`drive.transfer`").

Head motion transfers relative to the driver's mean pose, in the head's own axes, around the
avatar's rest pose: a nod of the driver is a nod of the avatar whichever way each faced its camera.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from headsplat.drive.motion import Motion

REST_PERCENTILE = 10.0
"""The percentile of each weight over a driver's clip taken as its rest."""


def rest_expression(expression: Tensor, percentile: float = REST_PERCENTILE) -> Tensor:
    """(F, E) weights over a clip -> (E,) each weight's ``percentile`` (linear interpolation)."""
    return torch.quantile(expression, percentile / 100, dim=0)


def mean_rotation(rotation: Tensor) -> Tensor:
    """(F, 3, 3) rotations -> (3, 3) their chordal L2 mean: the rotation nearest (Frobenius) to
    their arithmetic mean, by SVD (Hartley et al., "Rotation Averaging", IJCV 2013)."""
    u, _, vh = torch.linalg.svd(rotation.mean(0))
    sign = torch.ones(3, dtype=rotation.dtype, device=rotation.device)
    sign[2] = torch.sign(torch.linalg.det(u @ vh))
    return u @ torch.diag(sign) @ vh


def transfer_expression(expression: Tensor, driver_rest: Tensor, target_rest: Tensor) -> Tensor:
    """(F, E) driver weights -> (F, E) target weights: ``target_rest + expression - driver_rest``,
    clamped to [0, 1]."""
    return (target_rest + expression - driver_rest).clamp(0.0, 1.0)


def relative_pose(
    rotation: Tensor, translation: Tensor, about: tuple[Tensor, Tensor] | None = None
) -> tuple[Tensor, Tensor]:
    """Each frame's head pose relative to a mean pose, in the head's axes.

    Args:
        rotation: (F, 3, 3) and translation: (F, 3), model -> camera.
        about: the mean pose (rotation M (3, 3), translation (3,)); None: these frames' own
            (:func:`mean_rotation`, the mean translation).

    Returns:
        (F, 3, 3) ``M^T R_f`` and (F, 3) ``M^T (t_f - mean t)``: the turn and the shift of the
        head away from its mean pose, in model axes.
    """
    mean, centre = about if about is not None else (mean_rotation(rotation), translation.mean(0))
    return mean.T @ rotation, (translation - centre) @ mean


def apply_relative_pose(
    turn: Tensor, shift: Tensor, rest_rotation: Tensor, rest_translation: Tensor
) -> tuple[Tensor, Tensor]:
    """Pose relative to a rest pose -> absolute pose: (F, 3, 3) ``R0 turn_f`` and (F, 3)
    ``t0 + R0 shift_f`` (the inverse of :func:`relative_pose` about the rest pose R0, t0)."""
    return rest_rotation @ turn, rest_translation + shift @ rest_rotation.T


MODES = ("relative", "expression", "absolute")
"""How :func:`retarget` maps a driver: ``relative`` (expression deltas from the driver's rest, head
motion about the avatar's rest pose), ``expression`` (the same expressions, the head held at the
rest pose), ``absolute`` (the driver's tracked expression and pose as they are: the same person
filmed by the same camera)."""


def retarget(
    motion: Motion,
    target_rest: Tensor,
    *,
    rest_rotation: Tensor,
    rest_translation: Tensor,
    mode: str = "relative",
) -> Motion:
    """A driver's tracked motion (expressions already in the target's order) in the target's terms.

    Args:
        motion: the driver's motion, F frames.
        target_rest: (E,) the avatar's rest expression (``Avatar.neutral_expression``).
        rest_rotation: (3, 3) and rest_translation: (3,): the avatar's rest pose (its mean
            training pose, ``Avatar.rest_pose()``).
        mode: one of :data:`MODES`. Gaze passes through in every mode.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "absolute":
        return replace(motion, expression=motion.expression.clamp(0.0, 1.0))
    expression = transfer_expression(motion.expression, rest_expression(motion.expression), target_rest)
    if mode == "expression":
        return hold_pose(replace(motion, expression=expression), rest_rotation, rest_translation)
    rotation, translation = apply_relative_pose(
        *relative_pose(motion.rotation, motion.translation), rest_rotation, rest_translation
    )
    return replace(motion, expression=expression, rotation=rotation, translation=translation)


def hold_pose(motion: Motion, rotation: Tensor, translation: Tensor) -> Motion:
    """``motion`` with the head held at the pose ``rotation`` (3, 3), ``translation`` (3,) in
    every frame."""
    frames = len(motion)
    return replace(
        motion,
        rotation=rotation.expand(frames, 3, 3).clone(),
        translation=translation.expand(frames, 3).clone(),
    )
