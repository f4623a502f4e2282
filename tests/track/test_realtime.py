"""The real-time tracker on synthetic landmarks made from known parameters with the real head model."""

import numpy as np
import pytest
import torch

from headsplat.geometry import rotation_angle_deg
from headsplat.track.fit import FitConfig
from headsplat.track.realtime import Calibration, HeadState, RealtimeTracker, calibrate
from tests.shared_data import require_ict_model
from tests.track.landmark_tracks import SIZE, synthetic_tracks


@pytest.fixture(scope="module")
def ict():
    from headsplat.head.ict import load_ict

    return load_ict(require_ict_model())


def _rest_start(tracks, n_expression: int) -> HeadState:
    """The first frame's pose with a neutral face and straight gaze: where a calibration leaves off."""
    rotation = tracks.rotation[0].double().numpy()
    return HeadState(
        rotation, tracks.translation[0].astype(float), np.zeros(n_expression), np.zeros((2, 2)), 0.0
    )


def test_realtime_tracker_follows_pose_expression_and_gaze_frame_by_frame(ict):
    tracks = synthetic_tracks(ict, 48, seed=0)
    calibration = Calibration(tracks.identity.astype(float), tracks.focal, np.full(2, SIZE / 2))
    tracker = RealtimeTracker(tracks.rig, calibration, _rest_start(tracks, ict.n_expression))
    noisy = tracks.pixels + tracks.rng.normal(scale=0.3, size=tracks.pixels.shape)
    states = [tracker(frame) for frame in noisy]
    rotation = torch.from_numpy(np.stack([s.rotation for s in states])).float()
    assert rotation_angle_deg(rotation, tracks.rotation).max() < 0.5
    expression = np.stack([s.expression for s in states])
    assert np.abs(expression - tracks.expression).mean() < 0.02
    assert ((expression >= 0) & (expression <= 1)).all()
    jaw = ict.expression_index("jawOpen")
    assert np.corrcoef(expression[:, jaw], tracks.expression[:, jaw])[0, 1] > 0.99
    gaze = np.stack([s.gaze for s in states])
    assert np.rad2deg(np.abs(gaze - tracks.gaze)).mean() < 1.0
    assert np.mean([s.error_px for s in states]) < 0.6  # the noise is 0.3 px per axis


def test_a_frame_without_a_face_holds_the_head_and_the_next_one_goes_on(ict):
    tracks = synthetic_tracks(ict, 6, seed=2)
    calibration = Calibration(tracks.identity.astype(float), tracks.focal, np.full(2, SIZE / 2))
    tracker = RealtimeTracker(tracks.rig, calibration, _rest_start(tracks, ict.n_expression))
    before = [tracker(frame) for frame in tracks.pixels[:3]]
    lost = tracker(None)
    assert before[-1].found and not lost.found
    np.testing.assert_array_equal(lost.expression, before[-1].expression)
    after = tracker(tracks.pixels[3])
    assert after.found and after.error_px < 1.0  # clean landmarks, the head moved on


def test_calibration_fits_identity_and_focal_in_a_frame_of_any_aspect(ict):
    tracks = synthetic_tracks(ict, 10, seed=3)
    # The same camera in a 512 x 384 frame (principal point at its centre): 64 px rows cut off the top.
    landmarks = tracks.pixels - np.array([0.0, 64.0])
    config = FitConfig(rigid_steps=100, full_steps=300)
    calibration, states = calibrate(tracks.rig, landmarks, (SIZE, 384), fit=config)
    np.testing.assert_allclose(calibration.centre, [256, 192])
    assert abs(calibration.focal / tracks.focal - 1) < 0.1
    rotation = torch.from_numpy(np.stack([s.rotation for s in states])).float()
    assert rotation_angle_deg(rotation, tracks.rotation).max() < 1.0
    tracker = RealtimeTracker(tracks.rig, calibration, states[-1], fit=config)
    assert tracker(landmarks[-1]).error_px < 0.5
