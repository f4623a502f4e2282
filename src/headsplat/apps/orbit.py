"""``headsplat render --orbit``: a turntable video of the avatar at neutral expression.

The avatar stands at its rest pose with the torso turning along (no neck bend); the camera
circles it about the head model's vertical axis through the model origin, at the rest pose's
distance, 5 degrees above, starting from the front.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Camera
from headsplat.geometry import MODEL_TO_OPENCV, axis_angle_to_matrix
from headsplat.io.atomic import atomic_write
from headsplat.io.video import to_uint8, write_mp4


def orbit_camera(avatar: Avatar, angle: float, size: int, pitch_deg: float = 5.0) -> Camera:
    """The training camera moved to look at the head at the rest pose from ``angle`` radians
    about the model's vertical axis (0: from the front), ``pitch_deg`` above."""
    rotation, translation = avatar.rest_pose()
    tilt = axis_angle_to_matrix(torch.tensor([float(np.deg2rad(pitch_deg)), 0.0, 0.0]))
    turn = axis_angle_to_matrix(torch.tensor([0.0, float(angle), 0.0]))
    # Model -> camera as if the head turned in front of the camera; world -> camera undoes the pose.
    model_to_camera = (torch.from_numpy(MODEL_TO_OPENCV).float() @ tilt @ turn).to(rotation)
    distance = torch.zeros(3).to(rotation)
    distance[2] = translation[2]
    viewmat = torch.eye(4).to(rotation)
    viewmat[:3, :3] = model_to_camera @ rotation.T
    viewmat[:3, 3] = distance - viewmat[:3, :3] @ translation
    return avatar.camera(size, viewmat)


@torch.no_grad()
def orbit_frames(
    avatar: Avatar, size: int, n_frames: int = 60, background: float | None = None
) -> Iterator[np.ndarray]:
    """Yield (size, size, 3) uint8 renders of the avatar at rest (its rest expression,
    :func:`~headsplat.avatar.avatar.most_neutral_expression`: landmark tracking describes a face
    at rest with some blendshapes on, so expression zero is a face the clip never showed) from a
    full circle of cameras."""
    condition = avatar.condition(expression=avatar.neutral_expression, torso=None)
    for angle in np.linspace(0, 2 * np.pi, n_frames, endpoint=False):
        yield to_uint8(avatar.render(condition, orbit_camera(avatar, angle, size), background).image)


def render_orbit(avatar: Avatar, path: str | Path, size: int | None = None, n_frames: int = 60) -> Path:
    """Write the turntable video (atomically) and return its path."""
    frames = orbit_frames(avatar, size or avatar.size, n_frames)
    return atomic_write(path, lambda p: write_mp4(p, frames, avatar.info["fps"]))
