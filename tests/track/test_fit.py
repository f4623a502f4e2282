"""Tracking on synthetic landmarks made from known parameters with the real head model."""

import numpy as np
import pytest
import torch

from headsplat.geometry import rotation_angle_deg
from headsplat.track.fit import FitConfig, fit_landmarks
from tests.shared_data import require_ict_model
from tests.track.landmark_tracks import SIZE, synthetic_tracks


@pytest.fixture(scope="module")
def ict():
    from headsplat.head.ict import load_ict

    return load_ict(require_ict_model())


def test_fit_recovers_pose_and_expression_from_clean_landmarks(ict):
    tracks = synthetic_tracks(ict, 24, seed=0)
    rig, pixels, rotation, expression, gaze, focal, rng = (
        tracks.rig,
        tracks.pixels,
        tracks.rotation,
        tracks.expression,
        tracks.gaze,
        tracks.focal,
        tracks.rng,
    )
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
    tracks = synthetic_tracks(ict, 12, seed=1)
    rig, pixels, rotation, rng = tracks.rig, tracks.pixels, tracks.rotation, tracks.rng
    corrupted = pixels.copy()
    wild = rng.random(pixels.shape[:2]) < 0.03
    corrupted[wild] += rng.normal(scale=60, size=(wild.sum(), 2))
    fit = fit_landmarks(rig, corrupted, SIZE, config=FitConfig(rigid_steps=100, full_steps=300))
    angle = rotation_angle_deg(torch.from_numpy(fit.rotation), rotation)
    assert angle.max() < 1.0
    clean_error = np.linalg.norm(fit.projected - pixels, axis=-1)[~wild].mean()
    assert clean_error < 1.0
