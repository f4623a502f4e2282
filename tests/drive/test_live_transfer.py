"""A live driver mapped frame by frame: deltas from the calibration's rest, motion about its mean pose."""

import math

import numpy as np
import pytest
import torch

from headsplat.drive.live_transfer import LiveRetarget
from headsplat.geometry import axis_angle_to_matrix, rotation_angle_deg
from headsplat.io.errors import InputError
from headsplat.track.realtime import HeadState

DRIVER = ("eyeBlink_L", "jawOpen", "mouthSmile_L")
AVATAR = ("jawOpen", "eyeBlink_L")  # another order, and one shape fewer


def _head(yaw_deg: float, jaw: float, blink: float = 0.1, x: float = 0.0) -> HeadState:
    driver_mean = axis_angle_to_matrix(torch.tensor([0.0, math.radians(30), 0.0]))  # turned away
    turn = axis_angle_to_matrix(torch.tensor([0.0, math.radians(yaw_deg), 0.0]))
    translation = np.array([2.0 + x, 1.0, 60.0])
    return HeadState(
        (driver_mean @ turn).double().numpy(), translation, np.array([blink, jaw, 0.3]), np.zeros((2, 2)), 0.5
    )


@pytest.fixture
def retarget():
    # At rest the driver's jaw reads 0.1 to 0.2 open: its rest, subtracted from what it does later.
    calibration = [_head(0.0, 0.1 + 0.01 * k) for k in range(11)]
    return LiveRetarget(
        calibration,
        DRIVER,
        AVATAR,
        target_rest=torch.tensor([0.05, 0.0]),
        rest_pose=(axis_angle_to_matrix(torch.tensor([0.0, 0.0, 0.2])), torch.tensor([0.0, -1.0, 70.0])),
    )


def test_a_live_frame_moves_the_avatar_by_what_the_driver_does_beyond_its_calibration(retarget):
    condition = retarget(_head(10.0, 0.6, x=1.5), time=1.0)
    assert condition.expression.shape == (2,)
    assert condition.expression[0] == pytest.approx(0.05 + 0.6 - 0.11, abs=1e-5)  # jawOpen
    assert condition.expression[1] == pytest.approx(0.0, abs=1e-6)  # the blink held its rest
    # The driver turned 10 degrees about its own vertical axis: so does the avatar, about its own.
    rest_rotation, rest_translation = retarget.rest
    turn = rest_rotation.T @ condition.rotation
    assert rotation_angle_deg(turn, axis_angle_to_matrix(torch.tensor([0.0, math.radians(10), 0.0]))) < 1e-3
    shift = (condition.translation - rest_translation) @ rest_rotation
    assert shift.norm() == pytest.approx(1.5, abs=1e-4)


def test_without_pose_the_head_stays_at_rest_and_the_face_still_moves(retarget):
    retarget.pose = False
    condition = retarget(_head(25.0, 0.6), time=1.0)
    assert torch.equal(condition.rotation, retarget.rest[0])
    assert condition.expression[0] > 0.5


def test_smoothing_damps_a_live_jitter():
    calibration = [_head(0.0, 0.1) for _ in range(5)]
    avatar = {"target_rest": torch.zeros(2), "rest_pose": (torch.eye(3), torch.zeros(3))}
    smooth = LiveRetarget(calibration, DRIVER, AVATAR, **avatar, smoothing=(1.0, 0.5))
    raw = LiveRetarget(calibration, DRIVER, AVATAR, **avatar)
    jaw = 0.3 + 0.05 * np.random.default_rng(0).standard_normal(60)
    outputs = [
        [float(r(_head(0.0, j), time=k / 30).expression[0]) for k, j in enumerate(jaw)] for r in (smooth, raw)
    ]
    assert np.std(outputs[0][20:]) < 0.5 * np.std(outputs[1][20:])


def test_an_avatar_expression_the_tracker_lacks_is_refused():
    with pytest.raises(InputError, match="mouthFrown_L"):
        LiveRetarget(
            [_head(0, 0)],
            DRIVER,
            ("mouthFrown_L",),
            target_rest=torch.zeros(1),
            rest_pose=(torch.eye(3), torch.zeros(3)),
        )
