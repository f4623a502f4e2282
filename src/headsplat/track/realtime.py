"""Real-time tracking: each frame's head pose, expression and gaze fitted to its landmarks in a few
Gauss-Newton steps warm-started from the previous frame, the identity and focal length held from a
short calibration (:func:`calibrate`: the landmark tracker of :mod:`headsplat.track.fit` on the
first frames).

One frame's objective is the landmark tracker's for that frame: the pseudo-Huber pixel error
(weighted per landmark), the L1 expression prior, the gaze prior, and the smoothness terms, here
towards the previous frame. It is minimised by iteratively reweighted Gauss-Newton (the robust loss
as per-landmark weights, Levenberg-Marquardt damping) on analytic Jacobians in NumPy: about 60
unknowns and 1000 residuals, a fraction of a millisecond per iteration, where autograd's
per-operation overhead alone would take several. Expression weights stay in [0, 1]: a weight at a
bound whose gradient pushes it out is held there for the step (an active set), the others are
clipped after it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from headsplat.head.model import PointRig
from headsplat.track.fit import FitConfig, FitResult, fit_landmarks


@dataclass(frozen=True)
class RealtimeConfig:
    """Settings of the per-frame fit."""

    iterations: int = 3
    """Gauss-Newton steps per frame (warm-started: the head moves little between frames)."""
    damping: float = 1e-3
    """Levenberg-Marquardt damping, relative to the normal matrix's diagonal."""
    calibration_frames: int = 30
    """Frames the calibration fits identity and focal length on (about a second of video)."""
    refine_after: tuple[int, ...] = (90, 300)
    """After how many tracked frames the identity and focal length are fitted again (live), on the
    calibration's frames and every ``refine_stride``-th tracked one: a face that moves tells its
    shape better than a still one."""
    refine_stride: int = 3


@dataclass(frozen=True)
class HeadState:
    """One frame's tracked head.

    Attributes:
        rotation: (3, 3) model -> camera (OpenCV axes). translation: (3,) in model units (cm).
        expression: (E,) weights in [0, 1]. gaze: (2, 2) (yaw, pitch) per eye in radians.
        error_px: mean landmark error of the fit in pixels (NaN: no face, the state is held).
    """

    rotation: np.ndarray
    translation: np.ndarray
    expression: np.ndarray
    gaze: np.ndarray
    error_px: float

    @property
    def found(self) -> bool:
        return bool(np.isfinite(self.error_px))


@dataclass(frozen=True)
class Calibration:
    """What the real-time fit holds: the person's identity (I,), the camera's focal length and
    principal point (2,) in pixels of the frames."""

    identity: np.ndarray
    focal: float
    centre: np.ndarray


def calibrate(
    rig: PointRig,
    landmarks: np.ndarray,
    frame_size: tuple[int, int],
    *,
    weights: np.ndarray | None = None,
    fit: FitConfig | None = None,
) -> tuple[Calibration, list[HeadState]]:
    """Identity and focal length from a few frames' landmarks (the landmark tracker on them), and
    each frame's head.

    Args:
        landmarks: (F, L, 2) in pixels of frames of ``frame_size`` (width, height), any aspect:
            the principal point is the frame's centre.
        weights: (L,) per-landmark weights, as the tracker takes them.
    """
    width, height = frame_size
    side = max(width, height)
    # The tracker's principal point is a square image's centre: pad the frame to one.
    offset = np.array([(side - width) / 2, (side - height) / 2], np.float32)
    result: FitResult = fit_landmarks(
        rig, np.asarray(landmarks, np.float32) + offset, side, weights=weights, config=fit
    )
    calibration = Calibration(
        identity=result.identity.astype(np.float64),
        focal=float(result.K[0, 0]),
        centre=np.array([width / 2, height / 2]),
    )
    states = [
        HeadState(
            result.rotation[f].astype(np.float64),
            result.translation[f].astype(np.float64),
            result.expression[f].astype(np.float64),
            result.gaze[f].astype(np.float64),
            float(result.error_px[f]),
        )
        for f in range(len(landmarks))
    ]
    return calibration, states


def _skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrices: ``_skew(a) @ b == a x b``."""
    out = np.zeros((*v.shape[:-1], 3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def _gaze_rotation(gaze: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One eye's (yaw, pitch) -> its rotation (3, 3) (as :func:`headsplat.head.model.gaze_rotation`)
    and the rotation's derivatives by yaw and pitch (2, 3, 3)."""
    yaw, pitch = gaze
    R, jacobian = cv2.Rodrigues(np.array([-pitch, yaw, 0.0]))
    by_axis = jacobian.reshape(3, 3, 3)  # d R / d (axis-angle component), R row-major
    return R, np.stack([by_axis[1], -by_axis[0]])


class RealtimeTracker:
    """Fits each frame's landmarks in turn, warm-started from the frame before.

    Args:
        rig: the landmark points' rig (``model.rig(model.landmarks)``).
        calibration: the identity and camera held.
        start: the head the first frame starts from (e.g. the calibration's last).
        weights: (L,) per-landmark weights (normalised to mean 1, as the tracker does).
        fit: the objective's weights (the landmark tracker's).
    """

    def __init__(
        self,
        rig: PointRig,
        calibration: Calibration,
        start: HeadState,
        *,
        weights: np.ndarray | None = None,
        fit: FitConfig | None = None,
        config: RealtimeConfig | None = None,
    ):
        self.fit = fit or FitConfig()
        self.config = config or RealtimeConfig()
        self.calibration = calibration
        shape = rig.shape
        identity = calibration.identity
        self.base = (shape.mean + np.tensordot(identity, shape.identity_basis, 1)).astype(np.float64)
        self.basis = shape.expression_basis.astype(np.float64)  # (E, L, 3)
        n_points = len(self.base)
        w = np.ones(n_points) if weights is None else np.asarray(weights, np.float64)
        self.landmark_weight = w / w.mean()
        self.eyes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if rig.has_eyes:
            centres = rig.eye_centres
            centre = centres.mean + np.tensordot(identity, centres.identity_basis, 1)
            for k in (0, 1):
                self.eyes.append(
                    (
                        np.flatnonzero(rig.eye == k),
                        centre[k],
                        centres.expression_basis[:, k].astype(np.float64),
                    )
                )
        self.state = replace(start, error_px=float("nan"))
        self.n_expression = len(self.basis)
        # The frame's fixed terms, built once. Smoothness towards the previous frame per unknown
        # (turn, shift, expression, gaze): the tracker's weights, its rotation in rad * 10.
        pose, expressions = self.fit.smooth_pose, self.fit.smooth_expression
        self.smoothness = np.repeat([pose * 100, pose, expressions], [3, 3, self.n_expression + 4])
        # The gaze prior's quadratic form: each eye towards ahead, the two eyes towards each other.
        self.gaze_hessian = self.fit.gaze_prior * (np.eye(4) + 10 * np.kron([[1, -1], [-1, 1]], np.eye(2)))

    def _points(
        self, expression: np.ndarray, gaze: np.ndarray, rotation: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """Camera-axis points ``R P`` (L, 3) (before the translation) and their derivatives by
        expression (E, L, 3) and gaze (4, L, 3), for the head turned by ``rotation`` (3, 3)."""
        points = self.base + np.tensordot(expression, self.basis, 1)
        by_expression = self.basis @ rotation.T
        by_gaze = np.zeros((4, *points.shape))
        for k, (index, centre_rest, centre_basis) in enumerate(self.eyes):
            centre = centre_rest + expression @ centre_basis
            R, dR = _gaze_rotation(gaze[k])
            offset = points[index] - centre
            points[index] = offset @ R.T + centre
            relative = self.basis[:, index] - centre_basis[:, None]
            by_expression[:, index] = (relative @ R.T + centre_basis[:, None]) @ rotation.T
            by_gaze[2 * k : 2 * k + 2, index] = np.einsum("jab,pb->jpa", dR, offset) @ rotation.T
        return points @ rotation.T, by_expression, by_gaze

    def __call__(self, landmarks: np.ndarray | None) -> HeadState:
        """The head of the next frame from its (L, 2) landmarks in pixels (None: no face, the last
        head is held)."""
        previous = self.state
        if landmarks is None:
            self.state = replace(previous, error_px=float("nan"))
            return self.state
        target = np.asarray(landmarks, np.float64)
        fit, E = self.fit, self.n_expression
        focal, centre = self.calibration.focal, self.calibration.centre
        rotation, translation = previous.rotation.copy(), previous.translation.copy()
        expression, gaze = previous.expression.copy(), previous.gaze.reshape(4).copy()
        turned = np.zeros(3)  # the rotation since the previous frame, axis-angle in camera axes
        n = 6 + E + 4
        c2 = fit.robust_scale_px**2
        for _ in range(self.config.iterations):
            rotated, by_expression, by_gaze = self._points(expression, gaze.reshape(2, 2), rotation)
            camera = rotated + translation
            z = np.maximum(camera[:, 2], 1e-3)
            x, y = camera[:, 0] / z, camera[:, 1] / z
            residual = np.stack([x, y], -1) * focal + centre - target  # (L, 2)
            # d pixel / d camera point is (f / z) [[1, 0, -x], [0, 1, -y]]: applied to each
            # derivative (K, L, 3) of the camera points, elementwise.
            moves = np.concatenate(
                [
                    -_skew(rotated).transpose(2, 0, 1),  # a turn exp(d) applied after the rotation
                    np.broadcast_to(np.eye(3)[:, None], (3, len(z), 3)),
                    by_expression,
                    by_gaze,
                ]
            )  # (n, L, 3)
            scale = focal / z
            jacobian = np.stack(
                [scale * (moves[..., 0] - x * moves[..., 2]), scale * (moves[..., 1] - y * moves[..., 2])], -1
            )  # (n, L, 2)
            squared = (residual**2).sum(-1)
            # Pseudo-Huber as reweighted least squares: d loss / d squared error per landmark.
            robust = self.landmark_weight / (2 * len(z) * np.sqrt(1 + squared / c2))
            rows = jacobian.reshape(n, -1)  # (n, 2L), a landmark's x and y side by side
            weighted = rows * np.repeat(robust, 2)
            hessian = 2 * weighted @ rows.T
            gradient = 2 * weighted @ residual.reshape(-1)
            change = np.concatenate(
                [
                    turned,
                    translation - previous.translation,
                    expression - previous.expression,
                    gaze - previous.gaze.reshape(4),
                ]
            )
            hessian[np.diag_indices(n)] += 2 * self.smoothness
            gradient += 2 * self.smoothness * change
            gradient[6 : 6 + E] += fit.expression_prior
            hessian[6 + E :, 6 + E :] += 2 * self.gaze_hessian
            gradient[6 + E :] += 2 * self.gaze_hessian @ gaze
            free = np.ones(n, bool)
            free[6 : 6 + E] = ~(
                ((expression <= 0) & (gradient[6 : 6 + E] > 0))
                | ((expression >= 1) & (gradient[6 : 6 + E] < 0))
            )
            system = hessian[np.ix_(free, free)]
            system[np.diag_indices(len(system))] *= 1 + self.config.damping
            step = np.zeros(n)
            step[free] = -np.linalg.solve(system, gradient[free])
            turn = cv2.Rodrigues(step[:3])[0]
            rotation = turn @ rotation
            turned = cv2.Rodrigues(turn @ cv2.Rodrigues(turned)[0])[0][:, 0]
            translation = translation + step[3:6]
            expression = np.clip(expression + step[6 : 6 + E], 0.0, 1.0)
            gaze = gaze + step[6 + E :]
        camera = self._points(expression, gaze.reshape(2, 2), rotation)[0] + translation
        projected = camera[:, :2] / np.maximum(camera[:, 2:], 1e-3) * focal + centre
        error = float(np.linalg.norm(projected - target, axis=-1).mean())
        self.state = HeadState(rotation, translation, expression, gaze.reshape(2, 2), error)
        return self.state
