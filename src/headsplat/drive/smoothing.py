"""Smoothing a driver's motion: the One Euro filter (Casiez, Roussel and Vogel, "1 Euro Filter: A
Simple Speed-based Low-pass Filter for Noisy Input in Interactive Systems", CHI 2012).

Landmark tracking jitters by a fraction of a pixel frame to frame, and the jitter moves the
avatar's face more than it moved the driver's. A fixed low-pass filter would trade that jitter for
lag in every fast motion; the One Euro filter lowers its cutoff when the signal is still (jitter
removed) and raises it with the signal's speed (little lag when the mouth snaps open).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import Tensor

from headsplat.drive.motion import Motion
from headsplat.drive.transfer import mean_rotation
from headsplat.geometry import axis_angle_to_matrix, matrix_to_axis_angle


def _smoothing_factor(cutoff: Tensor | float, period: float) -> Tensor | float:
    """The exponential smoothing factor of a first-order low-pass filter at ``cutoff`` Hz."""
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / period)


class OneEuro:
    """The filter on a stream: each call takes the next sample of C channels and its time.

    Args:
        min_cutoff: the cutoff (Hz) while a channel is still: lower removes more jitter.
        beta: how fast the cutoff rises with the channel's speed (per unit of the values per
            second): higher follows fast motion with less lag.
        d_cutoff: the cutoff (Hz) of the filter on the speed estimate itself.
    """

    def __init__(self, *, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.time: float | None = None
        self.value = self.speed = None

    def __call__(self, value: Tensor, time: float) -> Tensor:
        """(C,) the filtered sample at ``time`` seconds (the first sample passes unchanged; a
        sample no later than the one before replaces it unfiltered)."""
        if self.time is None or time <= self.time:
            self.time, self.value, self.speed = time, value.clone(), torch.zeros_like(value)
            return self.value
        period = time - self.time
        alpha_d = _smoothing_factor(self.d_cutoff, period)
        self.speed = alpha_d * (value - self.value) / period + (1 - alpha_d) * self.speed
        alpha = _smoothing_factor(self.min_cutoff + self.beta * self.speed.abs(), period)
        self.value = alpha * value + (1 - alpha) * self.value
        self.time = time
        return self.value


def one_euro(
    values: Tensor, fps: float, *, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0
) -> Tensor:
    """Filter each channel of ``values`` (F, C) sampled at ``fps`` (:class:`OneEuro`'s arguments).

    Returns:
        (F, C) the filtered values (the first frame unchanged).
    """
    stream = OneEuro(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
    return torch.stack([stream(values[f], f / fps) for f in range(len(values))])


def smooth_motion(motion: Motion, min_cutoff: float = 1.0, beta: float = 0.5) -> Motion:
    """``motion`` with its expression, gaze and head pose One-Euro filtered; the head's rotation is
    filtered as the axis-angle of its turn away from the clip's mean rotation (a few degrees, where
    axis-angles add like vectors)."""
    frames = len(motion)
    mean = mean_rotation(motion.rotation)
    turn = matrix_to_axis_angle(mean.T @ motion.rotation)
    pose = one_euro(torch.cat([turn, motion.translation], 1), motion.fps, min_cutoff=min_cutoff, beta=beta)
    flat_gaze = motion.gaze.reshape(frames, 4)
    gaze = one_euro(flat_gaze, motion.fps, min_cutoff=min_cutoff, beta=beta).reshape(frames, 2, 2)
    return replace(
        motion,
        expression=one_euro(motion.expression, motion.fps, min_cutoff=min_cutoff, beta=beta),
        gaze=gaze,
        rotation=mean @ axis_angle_to_matrix(pose[:, :3]),
        translation=pose[:, 3:],
    )
