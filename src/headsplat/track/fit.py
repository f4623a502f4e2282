"""Fit a linear head model to 2D landmark tracks, vectorised over all frames (PyTorch, CPU).

Unknowns: one identity vector and one focal length for the clip; per frame a head rotation,
translation, expression weights in [0, 1] and a gaze (yaw, pitch) per eye. The camera sits at the
origin (OpenCV axes) with the principal point at the image centre; the head moves. Landmark i of
frame f projects as

    x = K (R_f P_i(identity, expression_f, gaze_f) + t_f),   R_f = exp(r_f) . diag(1, -1, -1)

where P_i is the landmark rig (:class:`~headsplat.head.model.PointRig`). The loss is a robust pixel
reprojection error (pseudo-Huber, which still pulls a far-off start into place; then
Geman-McClure, which ignores outliers once the fit is close), temporal smoothness between
consecutive frames, and priors on identity (Gaussian), expression (L1, sparse), gaze and focal
length. Expressions are kept in [0, 1] by projection after each Adam step.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from headsplat.geometry import MODEL_TO_OPENCV, axis_angle_to_matrix
from headsplat.head.model import LinearShape, PointRig

_MODEL_TO_OPENCV = torch.from_numpy(MODEL_TO_OPENCV).float()


@dataclass
class FitConfig:
    """Tracking settings; defaults are tuned on the shared clips at 512 px."""

    rigid_steps: int = 150
    """Adam steps of the first stage: pose only, mean identity, neutral expression."""
    full_steps: int = 500
    """Adam steps of the second stage: everything."""
    refine_steps: int = 150
    """Adam steps of the last stage, with a redescending (Geman-McClure) loss that ignores outliers."""
    learning_rate: float = 0.03
    robust_scale_px: float = 3.0
    """Pseudo-Huber scale: residuals beyond it pull with constant force (outliers count less)."""
    identity_prior: float = 2e-3
    """Weight of |identity|^2 (coefficients are in standard deviations)."""
    expression_prior: float = 2e-3
    """Weight of the L1 norm of the expression weights (keeps them sparse)."""
    gaze_prior: float = 0.05
    """Weight of |gaze|^2 (radians) and, 10x, of the difference between the eyes (vergence)."""
    smooth_pose: float = 0.1
    """Weight of squared pose change between consecutive frames (rotation in rad*10, cm)."""
    smooth_expression: float = 0.2
    """Weight of squared expression and gaze change between consecutive frames."""
    focal_init: float = 2.0
    """Initial focal length in units of the image size (about 28 degrees field of view)."""
    focal_prior: float = 0.1
    """Weight of the squared log-ratio of focal length to its initial value."""
    fit_focal: bool = True
    """Fit the focal length (False: it stays ``focal_init``, as for one or two photos)."""


@dataclass
class FitResult:
    """Fitted parameters and per-frame errors.

    Attributes:
        K: (3, 3) intrinsics in pixels of the fitted images.
        rotation: (F, 3, 3) model-to-camera rotations (OpenCV camera axes).
        translation: (F, 3) model-to-camera translations (model units, cm).
        expression: (F, E) weights in [0, 1].
        gaze: (F, 2, 2) (yaw, pitch) per eye in radians.
        identity: (I,) coefficients.
        projected: (F, L, 2) fitted landmark positions in pixels.
        error_px: (F,) mean Euclidean landmark error per frame (all L landmarks).
    """

    K: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    expression: np.ndarray
    gaze: np.ndarray
    identity: np.ndarray
    projected: np.ndarray
    error_px: np.ndarray


@contextmanager
def one_torch_thread():
    """Run the block on one torch thread: tracking's tensors are small and thread hand-over
    costs more than it saves (many times slower on 2 threads; measurements: docs/quality.md,
    section "`track.fit.one_torch_thread`")."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _consecutive(frame_index: np.ndarray) -> torch.Tensor:
    """Indices f of frames whose successor f+1 is the next video frame (no gap)."""
    return torch.from_numpy(np.flatnonzero(np.diff(frame_index) == 1))


def project_pixels(points: torch.Tensor, focal: torch.Tensor | float, centre: torch.Tensor) -> torch.Tensor:
    """(..., 2) pixels of camera-space ``points`` (..., 3) through a pinhole of ``focal`` pixels
    and principal point ``centre`` (2,)."""
    z = points[..., 2:3].clamp_min(1e-3)
    return points[..., :2] / z * focal + centre


def fit_landmarks(
    rig: PointRig | LinearShape,
    landmarks: np.ndarray,
    image_size: int,
    *,
    weights: np.ndarray | None = None,
    frame_index: np.ndarray | None = None,
    config: FitConfig | None = None,
    identity: np.ndarray | None = None,
) -> FitResult:
    """Fit identity, focal length and per-frame pose, expression and gaze to 2D landmarks.

    Args:
        rig: the landmark points' rig (``model.rig(model.landmarks)``), or a bare linear shape
            (no eyes, gaze stays zero).
        landmarks: (F, L, 2) detected pixel positions in square images of ``image_size``.
        weights: (L,) per-landmark weights (e.g. lower for silhouette points); default 1.
        frame_index: (F,) video frame numbers; smoothness only links frames f and f+1.
        config: settings.
        identity: (I,) the person's identity coefficients, held as they are (None: fitted).
    """
    if isinstance(rig, LinearShape):
        rig = PointRig(rig, np.full(rig.mean.shape[0], -1))
    with one_torch_thread():
        return _fit(rig, landmarks, image_size, weights, frame_index, config or FitConfig(), identity)


def _initial_translation(mean_points: torch.Tensor, target: torch.Tensor, focal: float, centre: torch.Tensor):
    """(F, 3): the model's landmark centroid on the detected one, at the depth matching their spread."""
    spread_model = (mean_points[:, :2] - mean_points[:, :2].mean(0)).norm(dim=-1).mean()
    spread_image = (target - target.mean(1, keepdim=True)).norm(dim=-1).mean(1)
    depth = focal * spread_model / spread_image
    offset = (target.mean(1) - centre) / focal * depth[:, None]
    return torch.cat([offset, depth[:, None]], dim=1) - mean_points.mean(0) @ _MODEL_TO_OPENCV.T


def _fit(
    rig: PointRig, landmarks, image_size, weights, frame_index, config: FitConfig, known_identity
) -> FitResult:
    dtype = torch.float32
    target = torch.as_tensor(landmarks, dtype=dtype)
    F, L, _ = target.shape
    frame_index = np.arange(F) if frame_index is None else np.asarray(frame_index)
    pairs = _consecutive(frame_index)
    w = torch.ones(L, dtype=dtype) if weights is None else torch.as_tensor(weights, dtype=dtype)
    w = w / w.mean()
    centre = torch.full((2,), image_size / 2, dtype=dtype)
    mean_points = torch.as_tensor(rig.shape.mean, dtype=dtype)

    log_focal = torch.tensor(np.log(config.focal_init * image_size), dtype=dtype)
    focal0 = log_focal.clone()
    rot = torch.zeros(F, 3, dtype=dtype)
    trans = _initial_translation(mean_points, target, float(log_focal.exp()), centre)
    identity = torch.zeros(rig.shape.identity_basis.shape[0], dtype=dtype)
    if known_identity is not None:
        identity = torch.as_tensor(np.asarray(known_identity), dtype=dtype).clone()
    expression = torch.zeros(F, rig.shape.expression_basis.shape[0], dtype=dtype)
    gaze = torch.zeros(F, 2, 2, dtype=dtype)

    def step_change(x: torch.Tensor) -> torch.Tensor:
        return (x[pairs + 1] - x[pairs]).pow(2).flatten(1).sum(-1).mean() if len(pairs) else x.new_zeros(())

    def loss_fn(*, use_shape: bool, redescending: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        R = axis_angle_to_matrix(rot) @ _MODEL_TO_OPENCV
        points = rig.evaluate(identity, expression, gaze) if use_shape else mean_points.expand(F, L, 3)
        projected = project_pixels(points @ R.transpose(-1, -2) + trans[:, None, :], log_focal.exp(), centre)
        sq = ((projected - target) ** 2).sum(-1)
        c2 = config.robust_scale_px**2
        robust = sq / (sq + c2) if redescending else torch.sqrt(1 + sq / c2) - 1
        data = (w * robust).mean() * c2
        smooth = config.smooth_pose * (step_change(rot * 10) + step_change(trans))
        smooth = smooth + config.smooth_expression * (step_change(expression) + step_change(gaze))
        prior = (
            config.identity_prior * identity.pow(2).sum()
            + config.expression_prior * expression.abs().sum(-1).mean()
            + config.gaze_prior
            * (gaze.pow(2).sum((1, 2)) + 10 * (gaze[:, 0] - gaze[:, 1]).pow(2).sum(-1)).mean()
            + config.focal_prior * (log_focal - focal0).pow(2)
        )
        return data + smooth + prior, projected

    def run(
        params: list[torch.Tensor],
        steps: int,
        *,
        use_shape: bool,
        redescending: bool = False,
        lr: float = 1.0,
    ):
        for p in params:
            p.requires_grad_(True)
        # Translation is in cm, everything else in units where ~0.03 per step is a sensible move.
        groups = [
            {"params": [p], "lr": lr * config.learning_rate * (10.0 if p is trans else 1.0)} for p in params
        ]
        optimizer = torch.optim.Adam(groups)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss, _ = loss_fn(use_shape=use_shape, redescending=redescending)
            loss.backward()
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                expression.clamp_(0.0, 1.0)
        for p in params:
            p.requires_grad_(False)

    everything = [rot, trans, expression] + ([identity] if known_identity is None else [])
    everything += ([log_focal] if config.fit_focal else []) + ([gaze] if rig.has_eyes else [])
    run([rot, trans], config.rigid_steps, use_shape=False)
    run(everything, config.full_steps, use_shape=True)
    run(everything, config.refine_steps, use_shape=True, redescending=True, lr=0.1)

    with torch.no_grad():
        _, projected = loss_fn(use_shape=True)
        error = (projected - target).norm(dim=-1).mean(-1)
        R = axis_angle_to_matrix(rot) @ _MODEL_TO_OPENCV
    focal = float(log_focal.exp())
    K = np.array([[focal, 0, image_size / 2], [0, focal, image_size / 2], [0, 0, 1]], dtype=np.float32)
    return FitResult(
        K=K,
        rotation=R.numpy(),
        translation=trans.numpy(),
        expression=expression.numpy(),
        gaze=gaze.numpy(),
        identity=identity.numpy(),
        projected=projected.numpy(),
        error_px=error.numpy(),
    )
