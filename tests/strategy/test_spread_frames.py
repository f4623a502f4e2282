"""The few frames that differ most (``headsplat split --train-frames``): the most face-on and
neutral first, then farthest-point sampling in head pose and expression, deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headsplat.geometry import axis_angle_to_matrix
from headsplat.strategy.frame_clusters import spread_frames


def turned(yaw_degrees: float) -> np.ndarray:
    return axis_angle_to_matrix(torch.tensor([0.0, np.radians(yaw_degrees), 0.0])).numpy()


def a_clip() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Six frames: 0 smiles a little face-on, 1 is neutral but seen 15 degrees off, 2 is neutral and
    face-on, 3 opens the jaw wide, 4 turns 30 degrees, 5 is frame 0 again."""
    expression = np.zeros((6, 2))
    expression[[0, 5], 0] = 0.2
    expression[3, 1] = 1.0
    yaw = np.array([0.0, 15.0, 0.0, 0.0, 30.0, 0.0])
    rotation = np.stack([turned(y) for y in yaw])
    view = np.stack([yaw, np.zeros(6)], axis=1)
    return expression, rotation, view


def test_the_first_frame_is_the_most_face_on_and_neutral_then_the_farthest_each_time():
    expression, rotation, view = a_clip()
    assert spread_frames(expression, rotation, view, 1).tolist() == [2]
    # Squared distances: the open jaw is 1.0 from the neutral face, the 30 degree turn 4 (1 - cos 30)
    # = 0.54, the 15 degree turn 0.14 from both the face-on frames and the 30 degree one, the smile
    # 0.04 from the face and from its repeat 5 (the earlier of the two goes first).
    assert spread_frames(expression, rotation, view, 5).tolist() == [2, 3, 4, 1, 0]
    assert spread_frames(expression, rotation, view, 5).tolist() == [2, 3, 4, 1, 0]  # deterministic


def test_identical_frames_are_each_chosen_once_and_too_many_are_refused():
    expression, rotation, view = a_clip()
    same = np.repeat(expression[:1], 4, axis=0), np.repeat(rotation[:1], 4, axis=0), np.zeros((4, 2))
    assert sorted(spread_frames(*same, 4).tolist()) == [0, 1, 2, 3]
    for n in (0, 7):
        with pytest.raises(ValueError, match=f"{n} frames asked of 6"):
            spread_frames(expression, rotation, view, n)
