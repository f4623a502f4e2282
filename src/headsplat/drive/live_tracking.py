"""A camera's frames -> the tracked head, one frame at a time, in real time: MediaPipe's face mesh in
tracking mode, then :mod:`headsplat.track.realtime`'s per-frame fit, after a calibration on the
first frames with a face (identity and focal length; the user holds still meanwhile).

A second of a still face pins the identity down less well than a clip does: the face's shape and
its expression trade off where the face never moves. So the identity is refitted while the user
moves, in a background thread, on the calibration's frames and a sample of the tracked ones
(:attr:`RealtimeConfig.refine_after`); each refit replaces the tracker's identity and focal length
and refits the calibration's heads, from which a driver's rest and mean pose are read (measured:
docs/live.md, "Measured").
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from headsplat.head.model import HeadModel, PointRig
from headsplat.preprocess.landmarks import FaceLandmarker, landmark_weights
from headsplat.preprocess.pipeline import PreprocessConfig
from headsplat.track.fit import FitConfig
from headsplat.track.realtime import Calibration, HeadState, RealtimeConfig, RealtimeTracker, calibrate


@dataclass(frozen=True)
class TrackedFrame:
    """What one frame gave: its ``head`` (None while calibrating), whether a face was found, and
    how many of the calibration's frames are in (``calibrated`` of ``needed``)."""

    head: HeadState | None
    face: bool
    calibrated: int
    needed: int


class LiveLandmarkTracker:
    """Landmarks -> heads: a calibration on the first ``config.calibration_frames`` frames with a
    face (fitted in the background: the frames that come meanwhile give no head), then the
    real-time fit of each frame, the identity refitted in the background as frames come
    (``config.refine_after``).

    The calibration's heads (:attr:`calibration_heads`, refitted by the real-time fit with the
    current identity, so that they read a face as the live frames do) tell a driver's rest
    expression and mean pose; :attr:`generation` counts the identities (1 after the calibration).

    Args:
        rig: the landmark points' rig (``model.rig(model.landmarks)``).
        frame_size: (width, height) of the frames, in pixels.
        weights: (L,) per-landmark weights.
    """

    def __init__(
        self,
        rig: PointRig,
        frame_size: tuple[int, int],
        *,
        weights: np.ndarray | None = None,
        config: RealtimeConfig | None = None,
        fit: FitConfig | None = None,
    ):
        self.rig, self.frame_size = rig, frame_size
        self.config = config or RealtimeConfig()
        self.fit = fit or FitConfig()
        self.weights = weights
        self.collected: list[np.ndarray] = []
        """The calibration's landmarks, then every ``refine_stride``-th tracked frame's."""
        self.tracker: RealtimeTracker | None = None
        self.calibration_heads: list[HeadState] = []
        self.generation = 0
        self.tracked = 0
        self._refit: threading.Thread | None = None
        self._refitted: tuple[Calibration, HeadState] | None = None

    @property
    def calibrated(self) -> bool:
        return self.tracker is not None

    @property
    def fitting(self) -> bool:
        """Whether an identity fit runs in the background now."""
        return self._refit is not None and self._refit.is_alive()

    @property
    def calibration(self) -> Calibration | None:
        """The identity and camera in use (None before the calibration)."""
        return None if self.tracker is None else self.tracker.calibration

    def __call__(self, landmarks: np.ndarray | None) -> TrackedFrame:
        """Track the next frame's (L, 2) landmarks in pixels (None: no face in it)."""
        needed = self.config.calibration_frames
        if self._refitted is not None:
            self._use(self._refitted)
        if self.tracker is None:
            if landmarks is not None and len(self.collected) < needed:
                self.collected.append(landmarks)
                if len(self.collected) == needed:
                    self._fit_in_background()
            return TrackedFrame(None, landmarks is not None, len(self.collected), needed)
        head = self.tracker(landmarks)
        if landmarks is not None:
            self._sample(landmarks)
        return TrackedFrame(head, landmarks is not None, needed, needed)

    def _calibrate(self, landmarks: np.ndarray) -> tuple[Calibration, HeadState]:
        """The identity and focal length fitted on ``landmarks`` (F, L, 2), and the first frame's head."""
        calibration, heads = calibrate(
            self.rig, landmarks, self.frame_size, weights=self.weights, fit=self.fit
        )
        return calibration, heads[0]

    def _use(self, fitted: tuple[Calibration, HeadState]) -> None:
        """Track on with a calibration (and the head of the calibration's first frame): the
        calibration's heads refitted with it, the live fit going on from where it was."""
        self._refitted = None
        calibration, first = fitted
        settings = {"weights": self.weights, "fit": self.fit, "config": self.config}
        refit = RealtimeTracker(self.rig, calibration, first, **settings)
        heads = [refit(landmarks) for landmarks in self.collected[: self.config.calibration_frames]]
        current = self.tracker.state if self.tracker is not None else heads[-1]
        self.tracker = RealtimeTracker(self.rig, calibration, current, **settings)
        self.calibration_heads = heads
        self.generation += 1

    def _sample(self, landmarks: np.ndarray) -> None:
        """Keep every ``refine_stride``-th tracked frame's landmarks; at each count of
        ``refine_after``, refit the identity on what is kept, in the background."""
        self.tracked += 1
        if self.tracked > max(self.config.refine_after, default=0):
            return
        if self.tracked % self.config.refine_stride == 0:
            self.collected.append(landmarks)
        if self.tracked in self.config.refine_after:
            self._fit_in_background()

    def _fit_in_background(self) -> None:
        """Fit the identity on the landmarks kept so far in a thread (the frames go on meanwhile,
        the calibration's being collected, the live ones tracked); the next frame after it ends
        takes it. One fit at a time: a fit asked for while one runs is skipped."""
        if self.fitting:
            return
        kept = np.stack(self.collected)

        def refit() -> None:
            self._refitted = self._calibrate(kept)

        self._refit = threading.Thread(target=refit, name="headsplat live: identity fit", daemon=True)
        self._refit.start()

    def wait(self) -> None:
        """Wait for a fit under way to finish (it is used from the next frame on)."""
        if self._refit is not None:
            self._refit.join()


class LiveFaceTracker:
    """Frames -> heads: MediaPipe's landmarks (tracking mode), then :class:`LiveLandmarkTracker`
    (made at the first frame, which tells the frames' size), with the landmark tracker's landmark
    weights and objective."""

    def __init__(
        self, model: HeadModel, *, config: RealtimeConfig | None = None, fit: FitConfig | None = None
    ):
        if model.landmarks is None:
            raise ValueError(f"head model {model.name} has no landmark correspondence")
        self.rig = model.rig(model.landmarks)
        self.config = config or RealtimeConfig()
        self.fit = fit or PreprocessConfig().fit
        self.weights = landmark_weights(len(model.landmarks), PreprocessConfig().contour_weight)
        self.landmarker = FaceLandmarker(video=True, max_faces=1)
        self.landmark_tracker: LiveLandmarkTracker | None = None
        self.seconds = (0.0, 0.0)
        """The last frame's seconds in the landmark detector and in the fit."""

    @property
    def calibrated(self) -> bool:
        return self.landmark_tracker is not None and self.landmark_tracker.calibrated

    @property
    def calibration_heads(self) -> list[HeadState]:
        return [] if self.landmark_tracker is None else self.landmark_tracker.calibration_heads

    @property
    def generation(self) -> int:
        return 0 if self.landmark_tracker is None else self.landmark_tracker.generation

    def __call__(self, frame: np.ndarray) -> TrackedFrame:
        """Track ``frame`` (H, W, 3) uint8 RGB, the one after the last call's."""
        if self.landmark_tracker is None:
            size = (frame.shape[1], frame.shape[0])
            self.landmark_tracker = LiveLandmarkTracker(
                self.rig, size, weights=self.weights, config=self.config, fit=self.fit
            )
        start = time.perf_counter()
        faces = self.landmarker(frame)
        found = time.perf_counter()
        tracked = self.landmark_tracker(faces[0] if faces else None)
        self.seconds = (found - start, time.perf_counter() - found)
        return tracked

    def close(self) -> None:
        if self.landmark_tracker is not None:
            self.landmark_tracker.wait()
        self.landmarker.close()

    def __enter__(self) -> LiveFaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
