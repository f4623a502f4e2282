"""A camera's frames -> the tracked head, one frame at a time, in real time: MediaPipe's face mesh in
tracking mode, then :mod:`headsplat.track.realtime`'s per-frame fit, after a calibration on the
first frames with a face (identity and focal length; the user holds still meanwhile).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headsplat.head.model import HeadModel
from headsplat.preprocess.landmarks import FaceLandmarker, contour_landmarks
from headsplat.preprocess.pipeline import PreprocessConfig
from headsplat.track.fit import FitConfig
from headsplat.track.realtime import HeadState, RealtimeConfig, RealtimeTracker, calibrate


@dataclass(frozen=True)
class TrackedFrame:
    """What one frame gave: its ``head`` (None while calibrating), whether a face was found, and
    how many of the calibration's frames are in (``calibrated`` of ``needed``)."""

    head: HeadState | None
    face: bool
    calibrated: int
    needed: int


class LiveFaceTracker:
    """Frames -> heads: landmarks, a calibration on the first ``config.calibration_frames`` frames
    with a face, then the real-time fit of each frame.

    The calibration's heads (:attr:`calibration_heads`, refitted by the real-time fit, so that they
    read a face as the live frames will) tell a driver's rest expression and mean pose.
    """

    def __init__(
        self, model: HeadModel, *, config: RealtimeConfig | None = None, fit: FitConfig | None = None
    ):
        if model.landmarks is None:
            raise ValueError(f"head model {model.name} has no landmark correspondence")
        self.rig = model.rig(model.landmarks)
        self.config = config or RealtimeConfig()
        self.fit = fit or PreprocessConfig().fit
        self.weights = np.ones(len(model.landmarks))
        self.weights[contour_landmarks()] = PreprocessConfig().contour_weight
        self.landmarker = FaceLandmarker(video=True, max_faces=1)
        self.collected: list[np.ndarray] = []
        self.tracker: RealtimeTracker | None = None
        self.calibration_heads: list[HeadState] = []

    @property
    def calibrated(self) -> bool:
        return self.tracker is not None

    def __call__(self, frame: np.ndarray) -> TrackedFrame:
        """Track ``frame`` (H, W, 3) uint8 RGB, the one after the last call's."""
        faces = self.landmarker(frame)
        landmarks = faces[0] if faces else None
        needed = self.config.calibration_frames
        if self.tracker is not None:
            return TrackedFrame(self.tracker(landmarks), landmarks is not None, needed, needed)
        if landmarks is not None:
            self.collected.append(landmarks)
        if len(self.collected) == needed:
            self._calibrate(frame.shape[1], frame.shape[0])
        return TrackedFrame(None, landmarks is not None, len(self.collected), needed)

    def _calibrate(self, width: int, height: int) -> None:
        landmarks = np.stack(self.collected)
        calibration, heads = calibrate(
            self.rig, landmarks, (width, height), weights=self.weights, fit=self.fit
        )
        refit = RealtimeTracker(
            self.rig, calibration, heads[0], weights=self.weights, fit=self.fit, config=self.config
        )
        self.calibration_heads = [refit(frame) for frame in landmarks]
        self.tracker = refit

    def close(self) -> None:
        self.landmarker.close()

    def __enter__(self) -> LiveFaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
