"""Tracking on synthetic landmarks made from known parameters with the real head model."""

import numpy as np
import pytest
import torch

from headsplat.geometry import MODEL_TO_OPENCV, axis_angle_to_matrix, rotation_angle_deg
from headsplat.head import SurfacePoints
from headsplat.track.fit import FitConfig, fit_landmarks
from tests.shared_data import require_ict_model

SIZE = 512


@pytest.fixture(scope="module")
def ict():
    from headsplat.head.ict import load_ict

    return load_ict(require_ict_model())


def _synthetic(model, n_frames: int, seed: int):
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
    return rig, pixels.numpy(), rotation, expression.numpy(), gaze.numpy(), focal, rng


def test_fit_recovers_pose_and_expression_from_clean_landmarks(ict):
    rig, pixels, rotation, expression, gaze, focal, rng = _synthetic(ict, 24, seed=0)
    assert rig.has_eyes and (rig.eye >= 0).sum() == 10
    noisy = pixels + rng.normal(scale=0.3, size=pixels.shape)
    fit = fit_landmarks(rig, noisy, SIZE, config=FitConfig(rigid_steps=100, full_steps=400))
    angle = rotation_angle_deg(torch.from_numpy(fit.rotation), rotation)
    assert angle.max() < 1.0, f"rotation error up to {angle.max():.2f} deg"
    assert fit.error_px.mean() < 0.8  # the noise is 0.3 px per axis
    assert np.abs(fit.expression - expression).mean() < 0.05
    jaw = ict.expression_index("jawOpen")
    assert np.corrcoef(fit.expression[:, jaw], expression[:, jaw])[0, 1] > 0.95
    assert abs(fit.K[0, 0] / focal - 1) < 0.1
    assert ((fit.expression >= 0) & (fit.expression <= 1)).all()
    assert np.rad2deg(np.abs(fit.gaze - gaze)).mean() < 2.0


def test_fit_is_robust_to_a_few_wild_landmarks(ict):
    rig, pixels, rotation, _, _, _, rng = _synthetic(ict, 12, seed=1)
    corrupted = pixels.copy()
    wild = rng.random(pixels.shape[:2]) < 0.03
    corrupted[wild] += rng.normal(scale=60, size=(wild.sum(), 2))
    fit = fit_landmarks(rig, corrupted, SIZE, config=FitConfig(rigid_steps=100, full_steps=300))
    angle = rotation_angle_deg(torch.from_numpy(fit.rotation), rotation)
    assert angle.max() < 1.0
    clean_error = np.linalg.norm(fit.projected - pixels, axis=-1)[~wild].mean()
    assert clean_error < 1.0
