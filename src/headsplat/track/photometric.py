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
* **Lighting** (``lighting_degree``, off by default): the colours as albedos, shaded by
  low-order spherical harmonics of the points' camera-space normals (:func:`shading_basis`), one
  light for the clip: the light stays where it is while the head turns, so a cheek that darkens
  as it turns away can be the light's doing rather than a pose to correct (metrical-tracker and
  VHAP shade their albedo the same way).
* **Silhouette** (with the person masks): a cap of white Gaussians over the skin (face and scalp)
  above the chin, each lifted along the normal by a learned thickness (the hair's volume, shared
  by all frames), drawn as coverage and compared with the person mask beyond the chin's line
  (:func:`silhouette_masks`, ``"head"``; or beyond the brows', ``"crown"``, where no hair swings).
  VHAP aligns the outline except the hair's (``align_boundary_except``) with a face parser we do
  not ship; the hair beside a long-haired face (d3) turned out not to mislead the pose: the head's
  outline gained more than the crown's on both clips measured.
* **Losses**: L1 between render and frame inside the face (the hull of the frame's detected
  landmarks, eroded: skin, eyes and mouth; never hair or background); the silhouette's mean
  absolute error; the landmark term of the landmark fit (pseudo-Huber pixels, kept in every
  step, as VHAP and metrical-tracker keep theirs); a pull of the expression towards the
  landmark fit's (no weight drifts to saturation where the image does not ask for it);
  temporal smoothness of pose and expression to the frame before.
* **Schedule**: the colours and the cap's thickness at the landmark poses (all frames), then each
  frame in order for a few tens of steps warm-started from the frame before, appearance frozen;
  ``rounds`` times. Then a global pass, as VHAP and metrical-tracker end theirs: every frame's
  corrections together, each step's gradient summed over all frames, the corrected poses and
  expressions smoothed to both neighbours (:meth:`_Tracker.fit_globally`).

Identity, focal length and gaze stay the landmark fit's: on a synthetic head, an identity
corrected by the pixels in the global pass moved away from the truth (its shape shows at the
outline, which the cap's learned thickness and the Gaussians' blur explain as well).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import torch
from torch import Tensor

from headsplat.geometry import axis_angle_to_matrix, sh_basis
from headsplat.head.model import HeadModel, SurfacePoints, project_expression
from headsplat.render import rasterize
from headsplat.track.fit import one_torch_thread, project_pixels

FACE_MATERIALS = (
    "M_Face", "M_GumsTongue", "M_Teeth", "M_ScleraLeft", "M_ScleraRight", "M_IrisLeft", "M_IrisRight",
)  # fmt: skip
"""What the appearance model covers: all that the face hull shows, hair and neck left out."""
CAP_MATERIALS = ("M_Face", "M_BackHead")
"""The skin (face, scalp, ears and neck, above :data:`CAP_FLOOR_CM`): under the cap that draws the
silhouette."""
CAP_FLOOR_CM = {"crown": 0.0, "head": -10.0}
"""Model height (cm) below which the scalp is left out of the cap, by silhouette region: the
crown's silhouette lies above the brows (the eyes' level is 0 cm), the head's above the chin."""
RIGHT_BROW = (70, 63, 105, 66, 107)
LEFT_BROW = (300, 293, 334, 296, 336)
CHIN = 152
"""MediaPipe FaceMesh indices: the upper brows' contours and the chin."""


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
    lighting_degree: int = 0
    """Spherical-harmonic degree of the clip's light (0: none, the colours as they are; 1: four
    terms per channel; 2: nine). Off: degree 1 gained on one clip of three and lost on two
    (docs/quality.md, "The tracker's schedule")."""
    lr_lighting: float = 0.01
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
    silhouette_weight: float = 1.0
    """Weight of the silhouette term: the mean absolute difference of the cap's coverage and the
    person mask over ``silhouette`` (0: no cap, the face alone)."""
    silhouette: str = "head"
    """Where the silhouette is scored (:func:`silhouette_masks`): ``head`` (above the chin) or
    ``crown`` (above the brows, where no hair swings); docs/quality.md, "Photometric tracking: the
    silhouette"."""
    cap_points: int = 2000
    """Gaussians of the cap over the scalp above :data:`CAP_FLOOR_CM`."""
    hair_thickness: float = 1.0
    """Starting height (cm) of the cap above the scalp; each point's is learned with the colours."""
    lr_thickness: float = 0.05
    """Centimetres per step of the cap's thickness."""
    max_inset: float = 1.0
    """How far (cm) the cap may sink below the scalp: its Gaussians' blur widens the silhouette of
    a bald head, which a cap at the scalp would draw too wide."""
    global_steps: int = 0
    """Adam steps of the global pass (0: none); each renders every frame once. Off: it lost on
    d18 (docs/quality.md, "The tracker's schedule")."""
    seed: int = 0


@dataclass
class PhotometricResult:
    """The refined conditions and how well they explain the frames.

    Attributes:
        rotation: (F, 3, 3) model-to-camera rotations. translation: (F, 3) cm.
        expression: (F, E) weights in [0, 1].
        residual: (F,) each frame's image cost after (:meth:`_Tracker.image_cost`: the mean
            absolute colour error inside its face, plus the weighted silhouette error when the
            person masks were given).
        residual_before: (F,) the same at the landmark fit's conditions (appearance fitted to them).
        projected: (F, L, 2) the landmarks at the refined conditions, pixels of the input size.
    """

    rotation: np.ndarray
    translation: np.ndarray
    expression: np.ndarray
    residual: np.ndarray
    residual_before: np.ndarray
    projected: np.ndarray


def surface_triangles(
    model: HeadModel, materials: tuple[str, ...] = FACE_MATERIALS, floor: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The triangles of ``materials`` whose centroid on the mean shape lies above model height
    ``floor`` (cm; None: all), and their areas (cm^2) on the mean shape."""
    triangles = model.material_triangles(*materials)
    a, b, c = (model.shape.mean[model.triangles[triangles][:, i]] for i in range(3))
    if floor is not None:
        above = (a[:, 1] + b[:, 1] + c[:, 1]) / 3 > floor
        triangles, a, b, c = triangles[above], a[above], b[above], c[above]
    return triangles, 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def surface_samples(
    model: HeadModel,
    count: int,
    *,
    seed: int = 0,
    materials: tuple[str, ...] = FACE_MATERIALS,
    floor: float | None = None,
) -> SurfacePoints:
    """``count`` points spread evenly over :func:`surface_triangles` (``materials`` above ``floor``)
    of the model's mean shape: triangles drawn by area, uniform barycentric points in them."""
    triangles, area = surface_triangles(model, materials, floor)
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


def silhouette_masks(landmarks: np.ndarray, size: int, scale: float, region: str) -> np.ndarray:
    """(F, size, size) bool: each frame's pixels where its silhouette is scored, from the detected
    landmarks (F, 478, 2; pixels of an image ``scale`` times larger): ``"crown"``, beyond the brows'
    line away from the chin (hair there lies on the scalp and turns with it; long hair swings
    below it); ``"head"``, beyond the line parallel to it through the chin (ears, cheeks and jaw
    too: the whole head above the neck)."""
    centres = (np.mgrid[0:size, 0:size][::-1] + 0.5) * scale  # (2, S, S) x, y in landmark pixels
    masks = np.zeros((len(landmarks), size, size), bool)
    for f, points in enumerate(landmarks):
        right, left = points[list(RIGHT_BROW)].mean(0), points[list(LEFT_BROW)].mean(0)
        along = left - right
        normal = np.array([along[1], -along[0]])
        if (points[CHIN] - right) @ normal > 0:
            normal = -normal
        origin = right if region == "crown" else points[CHIN]
        masks[f] = np.tensordot(normal, centres - origin[:, None, None], axes=1) > 0
    return masks


def outward_normals(model: HeadModel, points: SurfacePoints, centre: np.ndarray | None = None) -> np.ndarray:
    """(P, 3) unit normals of the mean shape's triangles under ``points``, facing away from
    ``centre`` (3,) cm (default: the centroid of the points' triangles)."""
    a, b, c = (model.shape.mean[model.triangles[points.triangle][:, i]] for i in range(3))
    centroids = (a + b + c) / 3
    normals = np.cross(b - a, c - a)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    centre = centroids.mean(0) if centre is None else centre
    normals[(normals * (centroids - centre)).sum(1) < 0] *= -1
    return normals.astype(np.float32)


def shading_basis(normals: Tensor, degree: int) -> Tensor:
    """(..., B) the constant and :func:`~headsplat.geometry.sh_basis` up to ``degree`` (0, 1 or 2;
    B = 1, 4 or 9) at unit ``normals`` (..., 3)."""
    if degree not in (0, 1, 2):
        raise ValueError(f"lighting degree {degree}: choose 0, 1 or 2")
    constant = torch.ones_like(normals[..., :1])
    return constant if degree == 0 else torch.cat([constant, sh_basis(normals, degree)], -1)


def _pose(rotation: Tensor, translation: Tensor, correction_r: Tensor, correction_t: Tensor):
    """A landmark fit's pose ((..., 3, 3), (..., 3)) corrected by a rotation (..., 3) axis-angle in
    the head's axes and a translation (..., 3) cm."""
    return rotation @ axis_angle_to_matrix(correction_r), translation + correction_t


def _render(points: Tensor, colours: Tensor, sigma: Tensor, K: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """The appearance model's Gaussians at camera-space ``points`` (P, 3), each ``sigma`` (P,) cm
    wide: the image (size, size, 3), black behind them, and their coverage (size, size)."""
    n = len(points)
    quats = torch.zeros(n, 4)
    quats[:, 0] = 1.0
    scales = sigma[:, None].expand(n, 3)
    rendering = rasterize(points, quats, scales, torch.full((n,), 0.95), colours, K, torch.eye(4), size, size)
    return rendering.image, rendering.alpha[..., 0]


def _pseudo_huber(residual: Tensor, scale: float) -> Tensor:
    """Pseudo-Huber cost (squared pixels) of (..., 2) pixel residuals, per point."""
    sq = residual.pow(2).sum(-1)
    return scale**2 * (torch.sqrt(1 + sq / scale**2) - 1)


def track_photometric(
    model: HeadModel,
    images: Iterable[np.ndarray],
    landmarks: np.ndarray,
    K: np.ndarray,
    *,
    fit: dict[str, np.ndarray],
    landmark_weights: np.ndarray | None = None,
    config: PhotometricConfig | None = None,
    on_frame: Callable[[int], None] | None = None,
    person_masks: Iterable[np.ndarray] | None = None,
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
        person_masks: the F frames' person masks, each (S, S) in [0, 1], for the silhouette
            term; None (or ``config.silhouette_weight`` 0): the face alone.
    """
    config = config or PhotometricConfig()
    with one_torch_thread():
        tracker = _Tracker(model, images, landmarks, K, fit, landmark_weights, config, person_masks)
        return tracker.run(on_frame)


class _Appearance(NamedTuple):
    """The tracker's appearance model: the points' albedos (P, 3) in [0, 1], the light (B, 3)
    (:func:`shading_basis` coefficients per channel) and the cap's thickness (C,) cm."""

    colours: Tensor
    light: Tensor
    thickness: Tensor


def _downsampled(images: Iterable[np.ndarray], size: int) -> tuple[np.ndarray, int]:
    """(F, size, size, ...) the ``images`` resized as they are read (a long clip's full frames are
    never all in memory), and the side of the source images."""
    small, source_size = [], 0
    for image in images:
        source_size = image.shape[0]
        small.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(small), source_size


class _Tracker:
    """One clip's photometric tracking: its frames at the working size, the landmark fit it starts
    from, the appearance model and the per-frame corrections."""

    def __init__(self, model, images, landmarks, K, fit, weights, config: PhotometricConfig, person_masks):
        self.config = config
        size = config.size
        small, source_size = _downsampled(images, size)
        self.images = torch.from_numpy(small)  # uint8: 48 KB a frame at 128 px
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
        samples = surface_samples(model, config.points, seed=config.seed)
        self.rig = model.rig(samples)
        self.normals = torch.from_numpy(outward_normals(model, samples, model.shape.mean.mean(0)))
        self.landmark_rig = model.rig(model.landmarks)
        # Each Gaussian as wide as the samples' spacing on the mean face (cm).
        face_sigma = 0.7 * float(np.sqrt(surface_triangles(model)[1].sum() / config.points))
        self.sigma = torch.full((config.points,), face_sigma)
        cap_points = 0
        if config.silhouette not in CAP_FLOOR_CM:
            raise ValueError(f"silhouette {config.silhouette!r}: choose one of {', '.join(CAP_FLOOR_CM)}")
        if person_masks is not None and config.silhouette_weight > 0 and config.cap_points > 0:
            cap_points = config.cap_points
            floor = CAP_FLOOR_CM[config.silhouette]
            cap = surface_samples(
                model, cap_points, seed=config.seed + 1, materials=CAP_MATERIALS, floor=floor
            )
            self.cap_rig = model.rig(cap)
            self.cap_normals = torch.from_numpy(outward_normals(model, cap))
            cap_area = surface_triangles(model, CAP_MATERIALS, floor)[1].sum()
            cap_sigma = 0.7 * float(np.sqrt(cap_area / cap_points))
            self.cap_sigma = torch.full((cap_points,), cap_sigma)
            self.white = torch.ones(cap_points, 3)
            person = _downsampled((np.asarray(m, np.float32) for m in person_masks), size)[0]
            self.person = torch.from_numpy(person)
            self.scored = torch.from_numpy(silhouette_masks(landmarks, size, scale, config.silhouette))
        n_frames = len(self.images)
        self.correction_r = torch.zeros(n_frames, 3)
        self.correction_t = torch.zeros(n_frames, 3)
        self.correction_e = torch.zeros_like(self.expression)
        light = torch.zeros(len(shading_basis(torch.zeros(3), config.lighting_degree)), 3)
        light[0] = 1.0  # unlit: the albedo as it is
        self.appearance = _Appearance(
            torch.full((config.points, 3), 0.5), light, torch.full((cap_points,), config.hair_thickness)
        )
        self.generator = torch.Generator().manual_seed(config.seed)

    @property
    def has_cap(self) -> bool:
        return len(self.appearance.thickness) > 0

    def condition(self, f: int, r: Tensor, t: Tensor, e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Frame ``f``'s rotation (3, 3), translation (3,) and expression (E,) with the
        corrections ``r``, ``t``, ``e`` (the weights kept in [0, 1])."""
        R, translation = _pose(self.rotation[f], self.translation[f], r, t)
        return R, translation, (self.expression[f] + e).clamp(0.0, 1.0)

    def image_cost(self, f: int, appearance: _Appearance, r: Tensor, t: Tensor, e: Tensor) -> Tensor:
        """Frame ``f``'s mean absolute colour error inside its face mask, plus (with a cap) the
        weighted mean absolute difference of the cap's coverage and the person mask where its
        silhouette is scored."""
        R, translation, expression = self.condition(f, r, t, e)
        points = self.rig.evaluate(self.identity, expression, self.gaze[f]) @ R.T + translation
        shade = shading_basis(self.normals @ R.T, self.config.lighting_degree) @ appearance.light
        image = _render(points, appearance.colours * shade, self.sigma, self.K, self.config.size)[0]
        cost = (image - self.images[f].float() / 255)[self.masks[f]].abs().mean()
        if not self.has_cap:
            return cost
        cap = (
            self.cap_rig.evaluate(self.identity, expression)
            + appearance.thickness[:, None] * self.cap_normals
        )
        coverage = _render(cap @ R.T + translation, self.white, self.cap_sigma, self.K, self.config.size)[1]
        outline = (coverage - self.person[f])[self.scored[f]].abs().mean()
        return cost + self.config.silhouette_weight * outline

    def landmark_cost(self, f: int, r: Tensor, t: Tensor, e: Tensor) -> Tensor:
        """The landmark fit's data term for frame ``f``: weighted pseudo-Huber, pixels at 512 px."""
        R, translation, expression = self.condition(f, r, t, e)
        points = self.landmark_rig.evaluate(self.identity, expression, self.gaze[f]) @ R.T + translation
        pixels = project_pixels(points, self.K_source[0, 0], self.K_source[:2, 2])
        residual = (pixels - self.target[f]) * self.to_512
        return (self.weights * _pseudo_huber(residual, self.config.landmark_scale_px)).mean()

    def correction(self, f: int) -> tuple[Tensor, Tensor, Tensor]:
        return self.correction_r[f], self.correction_t[f], self.correction_e[f]

    def frame_cost(self, f: int, r: Tensor, t: Tensor, e: Tensor) -> Tensor:
        """Frame ``f``'s image and landmark costs and the expression's pull, appearance frozen."""
        c = self.config
        return (
            self.image_cost(f, self.appearance, r, t, e)
            + c.landmark_weight * self.landmark_cost(f, r, t, e)
            + c.expression_pull * e.pow(2).sum()
        )

    def smoothness(self, change_r: Tensor, change_t: Tensor, change_e: Tensor) -> Tensor:
        """The weighted squared changes (rotation in radians, cm, weights) from one frame to the
        next."""
        c = self.config
        return (
            c.smooth_rotation * change_r.pow(2).sum()
            + c.smooth_translation * change_t.pow(2).sum()
            + c.smooth_expression * change_e.pow(2).sum()
        )

    def trajectory_smoothness(self, r: Tensor, t: Tensor, e: Tensor) -> Tensor:
        """:meth:`smoothness` of the corrected poses and expressions of all frames (corrections
        ``r``, ``t``, ``e``: (F, 3), (F, 3), (F, E)): the landmark fit's jitter is smoothed out,
        where smoothing the corrections would keep it."""
        R, translation = _pose(self.rotation, self.translation, r, t)
        turn = (R[1:] - R[:-1]).flatten(1) * 0.5**0.5  # its squared norm: the angle squared, small angles
        return self.smoothness(turn, translation.diff(dim=0), (self.expression + e).diff(dim=0))

    def fit_appearance(self) -> None:
        """Adam on the colours, the light and the cap's thickness at the current corrections, a
        random frame each step."""
        appearance = _Appearance(*(part.clone().requires_grad_(True) for part in self.appearance))
        colours, light, thickness = appearance
        optimizer = torch.optim.Adam(
            [
                {"params": [colours], "lr": self.config.lr_colour},
                # Degree 0 learns no light: a gain would only trade places with the albedos.
                {"params": [light], "lr": self.config.lr_lighting if self.config.lighting_degree else 0.0},
                {"params": [thickness], "lr": self.config.lr_thickness},
            ]
        )
        steps = self.config.appearance_steps
        # Decaying to zero: the colours settle on all frames' average, not on the last few drawn.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
        frames = torch.randint(len(self.images), (steps,), generator=self.generator)
        for f in frames.tolist():
            loss = self.image_cost(f, appearance, *self.correction(f))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            with torch.no_grad():
                colours.clamp_(0.0, 1.0)
                thickness.clamp_(min=-self.config.max_inset)
        self.appearance = _Appearance(*(part.detach() for part in appearance))

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
            loss = self.frame_cost(f, r, t, e)
            if f > 0:
                loss = loss + self.smoothness(r - previous[0], t - previous[1], e - previous[2])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # the corrected weights stay in [0, 1], so no gradient is clamped away
                e.copy_(project_expression(e, self.expression[f]))
        self.correction_r[f], self.correction_t[f], self.correction_e[f] = r.detach(), t.detach(), e.detach()

    def fit_globally(self) -> None:
        """Adam on every frame's corrections together, appearance frozen: each step's gradient is
        the mean of all frames' costs (one backward a frame, so memory stays one frame's) plus the
        :meth:`trajectory_smoothness` (both neighbours pull, where the per-frame pass looked only
        at the frame before)."""
        c = self.config
        every = (self.correction_r, self.correction_t, self.correction_e)
        r, t, e = (x.clone().requires_grad_(True) for x in every)
        optimizer = torch.optim.Adam(
            [
                {"params": [r], "lr": c.lr_rotation},
                {"params": [t], "lr": c.lr_translation},
                {"params": [e], "lr": c.lr_expression},
            ]
        )
        n_frames = len(self.images)
        for _ in range(c.global_steps):
            optimizer.zero_grad(set_to_none=True)
            for f in range(n_frames):
                (self.frame_cost(f, r[f], t[f], e[f]) / n_frames).backward()
            (self.trajectory_smoothness(r, t, e) / n_frames).backward()
            optimizer.step()
            with torch.no_grad():
                e.copy_(project_expression(e, self.expression))
        self.correction_r, self.correction_t, self.correction_e = r.detach(), t.detach(), e.detach()

    def residuals(self) -> np.ndarray:
        """(F,) each frame's image cost (:meth:`image_cost`), now."""
        with torch.no_grad():
            errors = [
                self.image_cost(f, self.appearance, *self.correction(f)) for f in range(len(self.images))
            ]
        return np.array([float(error) for error in errors])

    def run(self, on_frame: Callable[[int], None] | None) -> PhotometricResult:
        self.fit_appearance()
        before = self.residuals()
        for _ in range(self.config.rounds):
            for f in range(len(self.images)):
                self.fit_frame(f)
                if on_frame is not None:
                    on_frame(f + 1)
            self.fit_appearance()
        if self.config.global_steps > 0:
            self.fit_globally()
            self.fit_appearance()
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
