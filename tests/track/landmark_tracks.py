"""Landmark tracks of a known head (the real head model, known parameters), for the trackers' tests."""

from dataclasses import dataclass

import numpy as np
import torch

from headsplat.geometry import MODEL_TO_OPENCV, axis_angle_to_matrix
from headsplat.head.model import PointRig, SurfacePoints

SIZE = 512
"""The side of the square images the tracks are in, in pixels."""


@dataclass
class SyntheticTracks:
    """What made the tracks: ``pixels`` (F, L, 2) from ``rig`` at ``identity`` (I,), ``rotation``
    (F, 3, 3), ``translation`` (F, 3), ``expression`` (F, E), ``gaze`` (F, 2, 2) and ``focal`` px;
    ``rng`` the generator, for noise drawn after them."""

    rig: PointRig
    pixels: np.ndarray
    identity: np.ndarray
    rotation: torch.Tensor
    translation: np.ndarray
    expression: np.ndarray
    gaze: np.ndarray
    focal: float
    rng: np.random.Generator


def synthetic_tracks(model, n_frames: int, seed: int) -> SyntheticTracks:
    """Landmark tracks of a known head: identity, focal, smooth head motion and sparse expressions."""
    rng = np.random.default_rng(seed)
    face = model.material_triangles("M_Face")
    eyes = [model.material_triangles(f"M_Sclera{side}") for side in ("Left", "Right")]
    # Eyeball points on the front of each eye, where iris landmarks are.
    front = [
        t[
            model.shape.mean[model.triangles[t], 2].mean(1)
            > np.percentile(model.shape.mean[model.triangles[t], 2].mean(1), 80)
        ]
        for t in eyes
    ]
    triangle = np.concatenate([rng.choice(face, 300), rng.choice(front[0], 5), rng.choice(front[1], 5)])
    points = SurfacePoints(triangle, rng.dirichlet(np.ones(3), len(triangle)).astype(np.float32))
    rig = model.rig(points)
    identity = torch.tensor(rng.normal(scale=0.7, size=model.n_identity), dtype=torch.float32)
    time = np.linspace(0, 1, n_frames)[:, None]
    yaw_pitch_roll = np.deg2rad(np.array([35.0, 12.0, 8.0])) * np.sin(2 * np.pi * time + np.array([0, 1, 2]))
    rotation = (
        axis_angle_to_matrix(torch.tensor(yaw_pitch_roll[:, [1, 0, 2]], dtype=torch.float32))
        @ torch.from_numpy(MODEL_TO_OPENCV).float()
    )
    translation = torch.tensor(
        np.c_[3 * np.sin(3 * time), 2 * np.cos(2 * time), 55 + 5 * time], dtype=torch.float32
    )
    expression = np.zeros((n_frames, model.n_expression), dtype=np.float32)
    for name, amplitude in (
        ("jawOpen", 0.6),
        ("mouthSmile_L", 0.8),
        ("eyeBlink_R", 1.0),
        ("browInnerUp_L", 0.7),
    ):
        expression[:, model.expression_index(name)] = amplitude * np.clip(
            np.sin(np.pi * (time[:, 0] * 2 + rng.uniform())), 0, 1
        )
    expression = torch.from_numpy(expression)
    gaze = torch.tensor(np.deg2rad(15) * np.sin(4 * np.pi * time + np.array([0.0, 1.0])), dtype=torch.float32)
    gaze = gaze[:, None, :].expand(n_frames, 2, 2)  # both eyes look the same way
    focal = 1.8 * SIZE
    camera = rig.evaluate(identity, expression, gaze) @ rotation.transpose(-1, -2) + translation[:, None]
    pixels = camera[..., :2] / camera[..., 2:] * focal + SIZE / 2
    return SyntheticTracks(
        rig,
        pixels.numpy(),
        identity.numpy(),
        rotation,
        translation.numpy(),
        expression.numpy(),
        gaze.numpy(),
        focal,
        rng,
    )
