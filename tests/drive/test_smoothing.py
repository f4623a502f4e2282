"""The One Euro filter on a driver's motion: jitter removed while still, little lag when moving."""

import math

import torch

from headsplat.drive.motion import Motion
from headsplat.drive.smoothing import OneEuro, one_euro, smooth_motion
from headsplat.geometry import axis_angle_to_matrix, rotation_angle_deg


def _jitter(frames: int, scale: float, seed: int = 0, channels: int = 1) -> torch.Tensor:
    return scale * torch.randn(frames, channels, generator=torch.Generator().manual_seed(seed))


def test_still_jitter_shrinks_and_a_fast_step_is_followed():
    fps, frames = 25.0, 100
    still = 0.3 + _jitter(frames, 0.02)
    smoothed = one_euro(still, fps)
    assert smoothed[20:].std() < 0.4 * still[20:].std()
    # The jaw snapping open by 0.6 in one frame: within 3 frames the filter is most of the way.
    step = torch.cat([torch.zeros(20, 1), torch.full((20, 1), 0.6)]) + _jitter(40, 0.005, 1)
    followed = one_euro(step, fps, min_cutoff=1.0, beta=0.5)
    assert followed[23, 0] > 0.45
    # Without the speed term (a fixed 1 Hz low-pass) the same step lags far behind.
    assert one_euro(step, fps, min_cutoff=1.0, beta=0.0)[23, 0] < 0.4


def test_a_stream_weighs_each_sample_by_the_time_since_the_one_before():
    # A live source's frames arrive unevenly: the same jump moves the output by how long it held.
    for gap, low, high in ((0.001, 0.0, 0.05), (2.0, 0.9, 1.0)):
        stream = OneEuro(beta=0.0)
        assert stream(torch.zeros(1), 10.0)[0] == 0  # the first sample passes as it is
        moved = stream(torch.ones(1), 10.0 + gap)[0]
        assert low <= moved <= high, (gap, moved)


def test_a_motion_keeps_its_course_and_loses_its_jitter():
    fps, frames = 25.0, 60
    t = torch.arange(frames) / fps
    yaw = 0.05 * torch.sin(2 * math.pi * 0.3 * t)  # a head swaying 3 degrees at 0.3 Hz
    rotation_clean = axis_angle_to_matrix(torch.stack([torch.zeros(frames), yaw, torch.zeros(frames)], -1))
    noise = _jitter(frames, 0.01, 2, 3)
    rotation = rotation_clean @ axis_angle_to_matrix(noise)
    expression = (0.5 + _jitter(frames, 0.03, 3, 4)).clamp(0, 1)
    motion = Motion(
        expression, ("a", "b", "c", "d"), torch.zeros(frames, 2, 2), rotation, torch.zeros(frames, 3), fps
    )
    smoothed = smooth_motion(motion)
    error_before = rotation_angle_deg(rotation, rotation_clean)[10:].mean()
    error_after = rotation_angle_deg(smoothed.rotation, rotation_clean)[10:].mean()
    assert error_after < 0.7 * error_before
    assert torch.allclose(
        smoothed.rotation @ smoothed.rotation.transpose(1, 2), torch.eye(3).expand(frames, 3, 3), atol=1e-5
    )
    assert smoothed.expression[10:].std(0).mean() < 0.5 * expression[10:].std(0).mean()
    assert smoothed.expression_names == motion.expression_names and smoothed.fps == fps
