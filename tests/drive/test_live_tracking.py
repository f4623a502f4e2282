"""The live tracker on synthetic landmarks of a known head: a still calibration, then an identity
refitted in the background as the head moves."""

import numpy as np
import pytest
import torch

from headsplat.drive.live_tracking import LiveLandmarkTracker
from headsplat.track.fit import FitConfig
from headsplat.track.realtime import RealtimeConfig
from tests.shared_data import require_ict_model
from tests.track.landmark_tracks import SIZE, synthetic_tracks


@pytest.fixture(scope="module")
def ict():
    from headsplat.head.ict import load_ict

    return load_ict(require_ict_model())


def shape_error_cm(rig, identity: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance (cm) between the neutral landmark shapes of two identities, centred."""
    neutral = torch.zeros(rig.shape.expression_basis.shape[0])
    a, b = (rig.evaluate(torch.as_tensor(i, dtype=torch.float32), neutral).numpy() for i in (identity, truth))
    return float(np.linalg.norm((a - a.mean(0)) - (b - b.mean(0)), axis=-1).mean())


def test_the_identity_sharpens_once_the_head_moves(ict):
    tracks = synthetic_tracks(ict, 60, seed=4)
    noise = tracks.rng.normal(scale=0.5, size=(70, *tracks.pixels.shape[1:]))
    still = np.repeat(tracks.pixels[:1], 10, axis=0)  # the user holds still: one view, ten times
    landmarks = np.concatenate([still, tracks.pixels]) + noise
    config = RealtimeConfig(calibration_frames=10, refine_after=(40,), refine_stride=2)
    tracker = LiveLandmarkTracker(
        tracks.rig, (SIZE, SIZE), config=config, fit=FitConfig(rigid_steps=100, full_steps=300)
    )
    heads = [tracker(frame) for frame in landmarks[:10]]
    tracker.wait()  # the calibration, fitted in the background
    heads += [tracker(frame) for frame in landmarks[10:51]]
    assert [h.head is None for h in heads] == [True] * 10 + [False] * 41
    calibrated = shape_error_cm(tracks.rig, tracker.calibration.identity, tracks.identity)
    tracker.wait()  # the refit started at the 40th tracked frame
    after = tracker(landmarks[51])
    assert tracker.generation == 2 and after.head.found
    refined = shape_error_cm(tracks.rig, tracker.calibration.identity, tracks.identity)
    assert refined < 0.7 * calibrated, (calibrated, refined)
    # The calibration's frames read again with the new identity: still the held pose.
    assert len(tracker.calibration_heads) == 10
    assert np.ptp([h.translation for h in tracker.calibration_heads], axis=0).max() < 0.5
