"""A live driver's tracked head -> the avatar's condition, frame by frame, as ``reenact`` maps a
driver (:mod:`headsplat.drive.transfer`, relative mode): expressions as deltas from the driver's
rest, the head's motion about the driver's mean pose applied to the avatar's rest pose. A clip's
driver has the whole clip to tell its rest and mean pose; a live one has its calibration's frames
(:class:`~headsplat.drive.live_tracking.LiveFaceTracker`), which the user spends holding still.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.condition import Condition
from headsplat.drive.smoothing import OneEuro
from headsplat.drive.transfer import (
    apply_relative_pose,
    mean_rotation,
    relative_pose,
    rest_expression,
    transfer_expression,
)
from headsplat.geometry import axis_angle_to_matrix, matrix_to_axis_angle
from headsplat.io.errors import InputError
from headsplat.track.realtime import HeadState


class LiveRetarget:
    """Maps each tracked head to the avatar, smoothing the driver's signal on the way.

    Args:
        calibration: the calibration's heads (their expressions' 10th percentile is the driver's
            rest, their mean pose the one head motion is measured from).
        driver_names: (E_d,) the tracker's expression names.
        target_names: (E,) the avatar's. target_rest: (E,) its rest expression.
        rest_pose: (rotation (3, 3), translation (3,)): the avatar's (``Avatar.rest_pose()``).
        pose: False holds the avatar's head at its rest pose (expressions and gaze only).
        smoothing: (min_cutoff Hz, beta) of a One Euro filter on the driver's signal; None: off.

    Raises:
        InputError: the avatar has an expression the tracker's head model lacks.
    """

    def __init__(
        self,
        calibration: list[HeadState],
        driver_names: tuple[str, ...] | list[str],
        target_names: tuple[str, ...] | list[str],
        *,
        target_rest: Tensor,
        rest_pose: tuple[Tensor, Tensor],
        pose: bool = True,
        smoothing: tuple[float, float] | None = None,
    ):
        missing = [name for name in target_names if name not in driver_names]
        if missing:
            raise InputError(
                f"the avatar's expressions {', '.join(missing[:5])} are not in the live tracker's head "
                "model: drive it with the head model it was trained with."
            )
        self.order = torch.tensor([list(driver_names).index(name) for name in target_names])
        as_tensor = lambda name: torch.from_numpy(np.stack([getattr(h, name) for h in calibration])).float()  # noqa: E731
        rotation = as_tensor("rotation")
        self.mean_pose = (mean_rotation(rotation), as_tensor("translation").mean(0))
        self.driver_rest = rest_expression(as_tensor("expression")[:, self.order])
        self.target_rest = target_rest.float()
        self.rest = (rest_pose[0].float(), rest_pose[1].float())
        self.pose = pose
        self.filter = OneEuro(min_cutoff=smoothing[0], beta=smoothing[1]) if smoothing else None

    def __call__(self, head: HeadState, time: float) -> Condition:
        """The avatar's condition for ``head``, tracked from a frame captured at ``time`` seconds."""
        expression = torch.from_numpy(head.expression).float()[self.order]
        turn, shift = relative_pose(
            torch.from_numpy(head.rotation).float()[None],
            torch.from_numpy(head.translation).float()[None],
            self.mean_pose,
        )
        signal = torch.cat(
            [
                expression,
                torch.from_numpy(head.gaze).float().reshape(4),
                matrix_to_axis_angle(turn[0]),
                shift[0],
            ]
        )
        if self.filter is not None:
            signal = self.filter(signal, time)
        E = len(expression)
        expression = transfer_expression(signal[:E], self.driver_rest, self.target_rest)
        gaze = signal[E : E + 4].reshape(2, 2)
        if not self.pose:
            return Condition(expression, gaze, *self.rest)
        rotation, translation = apply_relative_pose(
            axis_angle_to_matrix(signal[E + 4 : E + 7])[None], signal[E + 7 :][None], *self.rest
        )
        return Condition(expression, gaze, rotation[0], translation[0])
