"""Photometric tracking: after the landmark fit, every frame's pose and expression fitted to the
image itself.

Landmarks pin a face to a few pixels, and a degree of head rotation they miss moves the
silhouette by more: the error a driven avatar shows. The peers' trackers look at the pixels
(VHAP, used by GaussianAvatars and STAvatar; metrical-tracker, used by FATE and FlashAvatar): an
appearance model of the head is fitted jointly with every frame's condition, test frames
included, before any avatar trains. This is ours, on 2 CPU cores:

* **Appearance**: a coarse head of isotropic Gaussians bound to the face surface (skin, eyes,
  teeth, gums; :func:`surface_samples`), one learned colour each, rendered by our rasterizer at
  ``size`` px. It is the tracker's own, independent of any avatar, so test frames get no help an
  avatar would give them.
* **Losses**: L1 between render and frame inside the face (the hull of the frame's detected
  landmarks, eroded: skin, eyes and mouth; never hair or background, so swinging hair cannot
  move the head); the landmark term of the landmark fit (pseudo-Huber pixels, kept in every
  step, as VHAP and metrical-tracker keep theirs); a pull of the expression towards the
  landmark fit's (no weight drifts to saturation where the image does not ask for it);
  temporal smoothness of pose and expression to the frame before.
* **Schedule**: the colours at the landmark poses (all frames), then each frame in order for a
  few tens of steps warm-started from the frame before, appearance frozen; ``rounds`` times.

Identity, focal length and gaze stay the landmark fit's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from headsplat.geometry import axis_angle_to_matrix
from headsplat.head.model import HeadModel, SurfacePoints
from headsplat.render import rasterize
from headsplat.track.fit import one_torch_thread, project_pixels

FACE_MATERIALS = (
    "M_Face", "M_GumsTongue", "M_Teeth", "M_ScleraLeft", "M_ScleraRight", "M_IrisLeft", "M_IrisRight",
)  # fmt: skip
"""What the appearance model covers: all that the face hull shows, hair and neck left out."""


@dataclass
class PhotometricConfig:
    """Settings of the photometric tracking stage."""

    size: int = 128
    """Side in pixels of the frames the tracker renders and compares (downsampled)."""
    points: int = 4000
    """Gaussians of the appearance model, spread evenly over the face's area."""
    appearance_steps: int = 150
    """Adam steps fitting the colours at the current conditions, a random frame each."""
    frame_steps: int = 20
    """Adam steps per frame fitting its pose and expression, the colours frozen."""
    rounds: int = 2
    """Alternations of the two: the colours learn from the corrected poses."""
    lr_colour: float = 0.05
    lr_rotation: float = 2e-3
    """Radians per step."""
    lr_translation: float = 2e-2
    """Centimetres per step."""
    lr_expression: float = 2e-2
    landmark_weight: float = 2e-3
    """Weight of the mean pseudo-Huber landmark error (squared pixels at 512 px) against the
    image L1 (colours in [0, 1]). Lower lets the pixels move the face further from the landmarks,
    and the silhouette with it (docs/quality.md, "Photometric tracking")."""
    landmark_scale_px: float = 3.0
    """Pseudo-Huber scale of the landmark term, in pixels at 512 px."""
    expression_pull: float = 0.02
    """Weight of the squared distance of the expression weights from the landmark fit's."""
    smooth_rotation: float = 1.0
    """Weight of the squared change of the rotation correction (radians) from the frame before's."""
    smooth_translation: float = 0.01
    """Weight of the squared change of the translation correction (cm) from the frame before's."""
    smooth_expression: float = 0.01
    """Weight of the squared change of the expression correction from the frame before's."""
    erode: float = 0.05
    """How far the face mask stays inside the landmarks' hull, as a fraction of its width."""
    seed: int = 0


@dataclass
class PhotometricResult:
    """The refined conditions and how well they explain the frames.

    Attributes:
        rotation: (F, 3, 3) model-to-camera rotations. translation: (F, 3) cm.
        expression: (F, E) weights in [0, 1].
        residual: (F,) mean absolute colour error inside each frame's face mask, after.
        residual_before: (F,) the same at the landmark fit's conditions (colours fitted to them).
        projected: (F, L, 2) the landmarks at the refined conditions, pixels of the input size.
    """

    rotation: np.ndarray
    translation: np.ndarray
    expression: np.ndarray
    residual: np.ndarray
    residual_before: np.ndarray
    projected: np.ndarray


def face_triangles(model: HeadModel) -> tuple[np.ndarray, np.ndarray]:
    """The face materials' triangles (:data:`FACE_MATERIALS`) and their areas (cm^2) on the mean
    shape."""
    triangles = model.material_triangles(*FACE_MATERIALS)
    a, b, c = (model.shape.mean[model.triangles[triangles][:, i]] for i in range(3))
    return triangles, 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def surface_samples(model: HeadModel, count: int, seed: int = 0) -> SurfacePoints:
    """``count`` points spread evenly over the face materials of the model's mean shape: triangles
    drawn by area, uniform barycentric points in them."""
    triangles, area = face_triangles(model)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(triangles), size=count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    bary = np.stack([1 - u - v, u, v], axis=1).astype(np.float32)
    return SurfacePoints(triangles[chosen], bary)


def face_masks(landmarks: np.ndarray, size: int, scale: float, erode: float) -> np.ndarray:
    """(F, size, size) bool: each frame's face, the hull of its landmarks (F, L, 2; pixels of an
    image ``scale`` times larger) shrunk by ``erode`` x its width."""
    masks = np.zeros((len(landmarks), size, size), np.uint8)
    for f, points in enumerate(landmarks / scale):
        hull = cv2.convexHull(np.round(points - 0.5).astype(np.int32))
        cv2.fillConvexPoly(masks[f], hull, 1)
        radius = round(erode * float(np.ptp(points[:, 0])))
        if radius > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            masks[f] = cv2.erode(masks[f], kernel)
    return masks.astype(bool)


def _pose(rotation: Tensor, translation: Tensor, correction_r: Tensor, correction_t: Tensor):
    """A landmark fit's pose ((..., 3, 3), (..., 3)) corrected by a rotation (..., 3) axis-angle in
    the head's axes and a translation (..., 3) cm."""
    return rotation @ axis_angle_to_matrix(correction_r), translation + correction_t


def _render(points: Tensor, colours: Tensor, sigma: float, K: Tensor, size: int) -> Tensor:
    """(size, size, 3) the appearance model's Gaussians at camera-space ``points`` (P, 3), black
    behind them."""
    n = len(points)
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1.0
    scales = torch.full((n, 3), sigma)
    return rasterize(
        points, quats, scales, torch.full((n,), 0.95), colours, K, torch.eye(4), size, size
    ).image


def _pseudo_huber(residual: Tensor, scale: float) -> Tensor:
    """Pseudo-Huber cost (squared pixels) of (..., 2) pixel residuals, per point."""
    sq = residual.pow(2).sum(-1)
    return scale**2 * (torch.sqrt(1 + sq / scale**2) - 1)


def track_photometric(
    model: HeadModel,
    images: Iterable[np.ndarray],
    landmarks: np.ndarray,
    K: np.ndarray,
    fit: dict[str, np.ndarray],
    landmark_weights: np.ndarray | None = None,
    config: PhotometricConfig | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> PhotometricResult:
    """Refine a landmark fit's per-frame pose and expression against the frames (see the module).

    Args:
        model: the head model, with its landmark correspondence.
        images: the F frames, each (S, S, 3) uint8 RGB (any iterable: each is downsampled to
            ``config.size`` as it is read). landmarks: (F, L, 2) detected, pixels of S.
        K: (3, 3) intrinsics at S.
        fit: the landmark fit's ``rotation`` (F, 3, 3), ``translation`` (F, 3), ``expression``
            (F, E), ``gaze`` (F, 2, 2) and ``identity`` (I,) (a ``FitResult``'s fields).
        landmark_weights: (L,) as the landmark fit's (face-oval points lower); default 1.
        on_frame: called with the number of frames done in each round (progress).
    """
    config = config or PhotometricConfig()
    with one_torch_thread():
        return _Tracker(model, images, landmarks, K, fit, landmark_weights, config).run(on_frame)


class _Tracker:
    """One clip's photometric tracking: its frames at the working size, the landmark fit it starts
    from, the appearance model and the per-frame corrections."""

    def __init__(self, model, images, landmarks, K, fit, weights, config: PhotometricConfig):
        self.config = config
        size = config.size
        small, source_size = [], 0
        for image in images:  # downsampled as read: a long clip's full frames are never all in memory
            source_size = image.shape[0]
            small.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
        self.images = torch.from_numpy(np.stack(small))  # uint8: 48 KB a frame at 128 px
        scale = source_size / size  # source pixels per working pixel
        self.masks = torch.from_numpy(face_masks(landmarks, size, scale, config.erode))
        self.K = torch.from_numpy(np.diag([1 / scale, 1 / scale, 1.0]) @ K).float()
        self.K_source = torch.from_numpy(K).float()
        self.to_512 = 512 / source_size
        self.target = torch.from_numpy(landmarks).float()
        w = torch.ones(landmarks.shape[1]) if weights is None else torch.as_tensor(weights).float()
        self.weights = w / w.mean()
        self.rotation = torch.from_numpy(fit["rotation"]).float()
        self.translation = torch.from_numpy(fit["translation"]).float()
        self.expression = torch.from_numpy(fit["expression"]).float()
        self.gaze = torch.from_numpy(fit["gaze"]).float()
        self.identity = torch.from_numpy(fit["identity"]).float()
        self.rig = model.rig(surface_samples(model, config.points, config.seed))
        self.landmark_rig = model.rig(model.landmarks)
        # Each Gaussian as wide as the samples' spacing on the mean face (cm).
        self.sigma = 0.7 * float(np.sqrt(face_triangles(model)[1].sum() / config.points))
        n_frames = len(self.images)
        self.correction_r = torch.zeros(n_frames, 3)
        self.correction_t = torch.zeros(n_frames, 3)
        self.correction_e = torch.zeros_like(self.expression)
        self.colours = torch.full((config.points, 3), 0.5)
        self.generator = torch.Generator().manual_seed(config.seed)

    def condition(self, f: int, r: Tensor, t: Tensor, e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Frame ``f``'s rotation (3, 3), translation (3,) and expression (E,) with the
        corrections ``r``, ``t``, ``e`` (the weights kept in [0, 1])."""
        R, translation = _pose(self.rotation[f], self.translation[f], r, t)
        return R, translation, (self.expression[f] + e).clamp(0.0, 1.0)

    def photometric(self, f: int, colours: Tensor, r: Tensor, t: Tensor, e: Tensor) -> Tensor:
        """Mean absolute colour error of frame ``f``'s render inside its face mask."""
        R, translation, expression = self.condition(f, r, t, e)
        points = self.rig.evaluate(self.identity, expression, self.gaze[f]) @ R.T + translation
        image = _render(points, colours, self.sigma, self.K, self.config.size)
        return (image - self.images[f].float() / 255)[self.masks[f]].abs().mean()

    def landmark_cost(self, f: int, r: Tensor, t: Tensor, e: Tensor) -> Tensor:
        """The landmark fit's data term for frame ``f``: weighted pseudo-Huber, pixels at 512 px."""
        R, translation, expression = self.condition(f, r, t, e)
        points = self.landmark_rig.evaluate(self.identity, expression, self.gaze[f]) @ R.T + translation
        pixels = project_pixels(points, self.K_source[0, 0], self.K_source[:2, 2])
        residual = (pixels - self.target[f]) * self.to_512
        return (self.weights * _pseudo_huber(residual, self.config.landmark_scale_px)).mean()

    def correction(self, f: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.correction_r[f], self.correction_t[f], self.correction_e[f]

    def fit_colours(self) -> None:
        """Adam on the colours at the current corrections, a random frame each step."""
        colours = self.colours.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([colours], lr=self.config.lr_colour)
        steps = self.config.appearance_steps
        # Decaying to zero: the colours settle on all frames' average, not on the last few drawn.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
        frames = torch.randint(len(self.images), (steps,), generator=self.generator)
        for f in frames.tolist():
            loss = self.photometric(f, colours, *self.correction(f))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                colours.clamp_(0.0, 1.0)
        self.colours = colours.detach()

    def fit_frame(self, f: int) -> None:
        """Adam on frame ``f``'s corrections, from the frame before's (tracking errors drift
        slowly), pulled towards it (smoothness) and the expression towards the landmark fit's."""
        c = self.config
        previous = self.correction(f - 1) if f > 0 else self.correction(f)
        r, t, e = (value.clone().requires_grad_(True) for value in previous)
        optimizer = torch.optim.Adam(
            [
                {"params": [r], "lr": c.lr_rotation},
                {"params": [t], "lr": c.lr_translation},
                {"params": [e], "lr": c.lr_expression},
            ]
        )
        for _ in range(c.frame_steps):
            loss = (
                self.photometric(f, self.colours, r, t, e)
                + c.landmark_weight * self.landmark_cost(f, r, t, e)
                + c.expression_pull * e.pow(2).sum()
            )
            if f > 0:
                loss = loss + (
                    c.smooth_rotation * (r - previous[0]).pow(2).sum()
                    + c.smooth_translation * (t - previous[1]).pow(2).sum()
                    + c.smooth_expression * (e - previous[2]).pow(2).sum()
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # the corrected weights stay in [0, 1], so no gradient is clamped away
                e.copy_((self.expression[f] + e).clamp(0.0, 1.0) - self.expression[f])
        self.correction_r[f], self.correction_t[f], self.correction_e[f] = r.detach(), t.detach(), e.detach()

    def residuals(self) -> np.ndarray:
        """(F,) each frame's mean absolute colour error inside its face, now."""
        with torch.no_grad():
            errors = [self.photometric(f, self.colours, *self.correction(f)) for f in range(len(self.images))]
        return np.array([float(error) for error in errors])

    def run(self, on_frame: Callable[[int], None] | None) -> PhotometricResult:
        self.fit_colours()
        before = self.residuals()
        for _ in range(self.config.rounds):
            for f in range(len(self.images)):
                self.fit_frame(f)
                if on_frame is not None:
                    on_frame(f + 1)
            self.fit_colours()
        R, t = _pose(self.rotation, self.translation, self.correction_r, self.correction_t)
        expression = (self.expression + self.correction_e).clamp(0.0, 1.0)
        with torch.no_grad():
            points = self.landmark_rig.evaluate(self.identity, expression, self.gaze)
            camera = points @ R.transpose(-1, -2) + t[:, None]
            projected = project_pixels(camera, self.K_source[0, 0], self.K_source[:2, 2])
        return PhotometricResult(
            rotation=R.numpy(),
            translation=t.numpy(),
            expression=expression.numpy(),
            residual=self.residuals(),
            residual_before=before,
            projected=projected.numpy(),
        )
