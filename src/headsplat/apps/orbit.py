"""``headsplat render --orbit``: a turntable video of the avatar at neutral expression.

The camera of the subject's first training frame stays put; the head turns a full circle about
its vertical axis through the model origin, at the tracked distance of the first frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from headsplat.geometry import MODEL_TO_OPENCV, axis_angle_to_matrix
from headsplat.io.atomic import atomic_write
from headsplat.io.video import to_uint8, write_mp4


@torch.no_grad()
def orbit_frames(
    state, K: torch.Tensor, size: int, n_frames: int = 60, background: float = 1.0, pitch_deg: float = 5
):
    """Yield (size, size, 3) uint8 renders of the neutral avatar turning 360 degrees."""
    vertices = state.neutral_vertices()
    distance = state.translation[0].clone()
    distance[:2] = 0  # centred in the image
    tilt = axis_angle_to_matrix(torch.tensor([float(np.deg2rad(pitch_deg)), 0.0, 0.0]))
    for angle in np.linspace(0, 2 * np.pi, n_frames, endpoint=False):
        turn = axis_angle_to_matrix(torch.tensor([0.0, float(angle), 0.0]))
        R = (torch.from_numpy(MODEL_TO_OPENCV).float() @ tilt @ turn).to(vertices)
        yield to_uint8(state.render_mesh(vertices @ R.T + distance, K, size, background).image)


def render_orbit(
    state, subject, size: int, path: str | Path, n_frames: int = 60, background: float = 1.0
) -> Path:
    """Write the turntable video (atomically) and return its path."""
    K = subject.intrinsics(size)
    frames = orbit_frames(state, K, size, n_frames, background)
    return atomic_write(path, lambda p: write_mp4(p, frames, subject.meta.get("fps", 25.0)))
