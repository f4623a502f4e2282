"""Motion transfer maths: rest expressions, mean poses, relative head motion, the modes."""

import math

import pytest
import torch

from headsplat.drive.motion import Motion
from headsplat.drive.transfer import (
    apply_relative_pose,
    mean_rotation,
    relative_pose,
    rest_expression,
    retarget,
    transfer_expression,
)
from headsplat.geometry import axis_angle_to_matrix, rotation_angle_deg

NAMES = ("jawOpen", "eyeBlink_L", "mouthSmile_L")


def _rotations(axis_angles) -> torch.Tensor:
    return axis_angle_to_matrix(torch.tensor(axis_angles, dtype=torch.float32))


def _motion(expression, rotation, translation) -> Motion:
    frames = len(expression)
    return Motion(expression, NAMES, torch.full((frames, 2, 2), 0.1), rotation, translation, 25.0)


def test_mean_rotation_of_turns_either_side_is_the_middle():
    middle = _rotations([0.3, 0.5, -0.2])
    turns = _rotations([[0.0, 0.2, 0.0], [0.0, -0.2, 0.0], [0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]])
    mean = mean_rotation(middle @ turns)
    assert rotation_angle_deg(mean, middle) < 1e-3
    assert torch.allclose(mean @ mean.T, torch.eye(3), atol=1e-5) and torch.linalg.det(mean) > 0


def test_a_nod_stays_a_nod_whichever_way_each_head_faced_its_camera():
    # The driver faces its camera turned 40 degrees and nods about its own left-right axis.
    driver_mean = _rotations([0.0, math.radians(40), 0.0])
    nods = _rotations([[a, 0.0, 0.0] for a in (-0.2, -0.1, 0.0, 0.1, 0.2)])
    rotation = driver_mean @ nods
    translation = torch.tensor([1.0, 2.0, 60.0]) + torch.arange(5.0)[:, None] * torch.tensor([0.0, 0.5, 0.0])
    turn, shift = relative_pose(rotation, translation)
    assert torch.allclose(turn, nods, atol=1e-5)
    # The avatar faces its camera head-on from elsewhere: it nods about its own axis too.
    rest_rotation, rest_translation = _rotations([0.0, 0.0, 0.1]), torch.tensor([0.0, -1.0, 70.0])
    avatar_rotation, avatar_translation = apply_relative_pose(turn, shift, rest_rotation, rest_translation)
    assert torch.allclose(rest_rotation.T @ avatar_rotation, nods, atol=1e-5)
    # The driver's upward drift is the head's own up (rotated into the avatar's camera).
    drift_in_head = (translation[4] - translation[0]) @ driver_mean
    assert torch.allclose(
        (avatar_translation[4] - avatar_translation[0]) @ rest_rotation, drift_in_head, atol=1e-4
    )
    # About the driver's own mean, the transfer is the identity.
    back = apply_relative_pose(turn, shift, mean_rotation(rotation), translation.mean(0))
    assert torch.allclose(back[0], rotation, atol=1e-5) and torch.allclose(back[1], translation, atol=1e-4)


def test_expressions_move_from_each_rest_and_stay_in_range():
    # A driver who talks (the jaw open in 7 frames of 10) with a lid bias (the blink 0.8 always).
    jaw = torch.tensor([0.1, 0.1, 0.1, 0.6, 0.4, 0.5, 0.6, 0.3, 0.5, 0.4])
    rest = rest_expression(torch.stack([jaw, torch.full((10,), 0.8), torch.zeros(10)], 1))
    assert torch.allclose(rest, torch.tensor([0.1, 0.8, 0.0]))  # the talking is no rest; the bias is
    assert rest_expression(jaw[:, None], 50.0) > 0.35  # a median would count the talking as rest
    driver = torch.tensor([[0.1, 0.8, 0.0], [0.1, 0.8, 0.3], [0.6, 0.8, 0.0], [0.1, 0.1, 0.0]])
    target_rest = torch.tensor([0.0, 0.2, 0.9])
    out = transfer_expression(driver, rest, target_rest)
    assert torch.allclose(out[0], target_rest)  # the driver at rest: the avatar at rest
    assert torch.allclose(out[2], torch.tensor([0.5, 0.2, 0.9]))  # the jaw opens by as much
    assert torch.allclose(out[1], torch.tensor([0.0, 0.2, 1.0]))  # smiling past 1 clamps
    assert torch.allclose(out[3], torch.tensor([0.0, 0.0, 0.9]))  # below 0 clamps


def test_modes():
    frames = 4
    expression = torch.rand(frames, 3) * 1.2
    rotation = _rotations([[0.0, 0.1 * f, 0.0] for f in range(frames)])
    translation = torch.randn(frames, 3)
    motion = _motion(expression, rotation, translation)
    rest = (_rotations([0.0, 0.3, 0.0]), torch.tensor([0.0, 0.0, 80.0]))
    target_rest = torch.full((3,), 0.2)

    absolute = retarget(motion, target_rest, rest_rotation=rest[0], rest_translation=rest[1], mode="absolute")
    assert torch.equal(absolute.rotation, rotation) and torch.equal(absolute.translation, translation)
    assert torch.equal(absolute.expression, expression.clamp(0, 1))

    still = retarget(motion, target_rest, rest_rotation=rest[0], rest_translation=rest[1], mode="expression")
    assert torch.equal(still.rotation, rest[0].expand(frames, 3, 3)) and torch.equal(
        still.translation[2], rest[1]
    )
    relative = retarget(motion, target_rest, rest_rotation=rest[0], rest_translation=rest[1], mode="relative")
    assert torch.equal(relative.expression, still.expression)
    assert torch.equal(relative.gaze, motion.gaze)  # gaze passes through
    turns = rest[0].T @ relative.rotation
    assert torch.allclose(
        turns[1:] @ turns[:-1].transpose(1, 2), rotation[1:] @ rotation[:-1].transpose(1, 2), atol=1e-5
    )
    with pytest.raises(ValueError, match="mode"):
        retarget(motion, target_rest, rest_rotation=rest[0], rest_translation=rest[1], mode="sideways")
