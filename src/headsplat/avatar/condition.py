"""What an avatar renders: a :class:`Condition` (what the head does) seen by a :class:`Camera`.

Coordinates: the head model is in cm (x to the subject's left, y up, z forward); a condition's
rotation and translation place it in the world (``x_world = R x_model + t``); the camera's view
matrix maps the world to OpenCV camera axes. A subject's tracking is a condition per frame seen by
a camera at the origin (``viewmat = I``), so ``R`` and ``t`` are then camera coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from headsplat.geometry import axis_angle_to_matrix, matrix_to_axis_angle
from headsplat.render.projection import Camera

__all__ = ["MOTION", "MOTION_SECONDS", "Camera", "Condition", "head_motion", "pinhole_camera"]

MOTION = "motion"
"""The key of the head's motion (6,) in :attr:`Condition.extras` (:func:`head_motion`): what a
sequence's conditions carry of the frames before them. A condition without it is a still head."""
MOTION_SECONDS = 0.25
"""The time unit of :func:`head_motion`: a brisk turn (2 rad/s) reads 0.5."""


@dataclass(frozen=True)
class Condition:
    """One frame's drive of the avatar.

    Attributes:
        expression: (E,) blendshape weights in the avatar's order (``avatar.expression_names``,
            ARKit names), nominally in [0, 1].
        gaze: (2, 2) (yaw, pitch) of each eyeball in radians (model axes; 0 looks ahead).
        rotation: (3, 3) and translation: (3,) the head's pose, model -> world.
        torso: the pose (rotation (3, 3), translation (3,)) the shoulders keep while the head
            turns (``still_torso`` deformer); None: the torso turns with the head.
        extras: named tensors a mechanism needs beyond these (declared in its docstring).
    """

    expression: Tensor
    gaze: Tensor
    rotation: Tensor
    translation: Tensor
    torso: tuple[Tensor, Tensor] | None = None
    extras: dict[str, Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> Condition:
        torso = None if self.torso is None else tuple(t.to(device) for t in self.torso)
        return Condition(
            self.expression.to(device),
            self.gaze.to(device),
            self.rotation.to(device),
            self.translation.to(device),
            torso,
            {k: v.to(device) for k, v in self.extras.items()},
        )

    def corrected(
        self, rotation: Tensor, translation: Tensor, expression: Tensor, gaze: Tensor | None = None
    ) -> Condition:
        """This condition with additive corrections: an axis-angle ``rotation`` (3,) about the head
        (in model space: ``R exp(r)``), ``translation`` (3,) cm, ``expression`` (E,) and ``gaze``
        (2, 2) or (2,) (the same for both eyes) radians."""
        return replace(
            self,
            rotation=self.rotation @ axis_angle_to_matrix(rotation),
            translation=self.translation + translation,
            expression=self.expression + expression,
            gaze=self.gaze if gaze is None else self.gaze + gaze,
        )

    def mirrored(self, expression_order: Tensor) -> Condition:
        """The condition of this frame seen in a mirror (its image flipped left to right): every
        pose reflected across x in both the model and the camera (``R -> S R S``, ``t -> S t``,
        ``S = diag(-1, 1, 1)``), each expression swapped with its other side's
        (``expression_order`` (E,): :func:`~headsplat.head.mirror.mirror_order` of the avatar's
        names), the eyes swapped and their yaws negated, the head's motion reflected (an angular
        velocity is a pseudovector: ``w -> -S w``). Mirrored twice, it is itself."""
        reflect = torch.diag(
            torch.tensor([-1.0, 1.0, 1.0], dtype=self.rotation.dtype, device=self.rotation.device)
        )
        torso = None if self.torso is None else (reflect @ self.torso[0] @ reflect, self.torso[1] @ reflect)
        extras = dict(self.extras)
        if MOTION in extras:
            extras[MOTION] = extras[MOTION] * torch.tensor(
                [1.0, -1.0, -1.0] * 2, device=extras[MOTION].device
            )
        return Condition(
            self.expression[expression_order],
            self.gaze.flip(0) * torch.tensor([-1.0, 1.0], device=self.gaze.device),
            reflect @ self.rotation @ reflect,
            self.translation @ reflect,
            torso,
            extras,
        )


def pinhole_camera(K: Tensor, size: int, viewmat: Tensor | None = None) -> Camera:
    """A square ``size`` x ``size`` camera with intrinsics K (3, 3) at that size, at the world
    origin looking along +z unless ``viewmat`` (4, 4, world -> camera) says otherwise."""
    if viewmat is None:
        viewmat = torch.eye(4, dtype=K.dtype, device=K.device)
    return Camera(K, viewmat, size, size)


def head_motion(rotation: Tensor, fps: float, torso_rotation: Tensor | None = None) -> Tensor:
    """(F, 6) the head's angular velocity and acceleration at each frame of a sequence of head
    rotations (F, 3, 3) at ``fps``, from that frame and the four before it (before the first
    frame, the first frame repeats: the head starts still).

    The velocity is the turn over the last two frames, the acceleration the change of velocity
    over the last two: backward differences, so a frame's motion needs no frame after it (live
    driving). Both are in the torso's axes (``torso_rotation`` (3, 3); None: the world's), in
    radians per :data:`MOTION_SECONDS` and per its square.
    """
    previous = (torch.arange(len(rotation), device=rotation.device) - 2).clamp_min(0)
    turn = rotation.double() @ rotation[previous].double().transpose(-1, -2)  # world axes
    velocity = matrix_to_axis_angle(turn) * (fps / 2)
    acceleration = (velocity - velocity[previous]) * (fps / 2)
    if torso_rotation is not None:
        velocity, acceleration = (v @ torso_rotation.double() for v in (velocity, acceleration))
    return torch.cat([velocity * MOTION_SECONDS, acceleration * MOTION_SECONDS**2], -1).to(rotation.dtype)
