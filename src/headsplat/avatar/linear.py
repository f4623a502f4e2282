"""The avatar made linear in its blendshape weights, for players outside headsplat (engines, the
browser viewer): Gaussian blendshapes.

    mean(e)     = mean_0     + sum_k e_k dmean_k
    rotation(e) = normalize(rotation_0 + sum_k e_k drotation_k)
    scale(e)    = scale_0    + sum_k e_k dscale_k

in model space (cm, x to the subject's left, y up, z forward), followed by what is not linear in
the weights, done exactly as the avatar does it or approximated as stated:

* gaze: a Gaussian on an eyeball turns about that eyeball's centre, which moves linearly with the
  weights (exact: the eyeball's triangles turn rigidly);
* pose: each Gaussian blends the head's rigid pose and the still torso's by its neck weight
  (:func:`~headsplat.avatar.deformers.torso.neck_weights` at its binding point): the mean exactly
  as the mesh's vertices blend, the rotation by the normalised blend of the two poses' quaternions
  (the avatar rebuilds the neck's triangle frames from the blended vertices instead);
* what the Gaussian deformers do (e.g. ``shading``'s light) is baked as the training camera saw
  the head from the front, as in the .ply export;
* the binding itself (the normal offset, triangle frames and sizes, the scale cap at the seams) is
  what the deltas linearise: each is the central difference of the exact binding about the clip's
  rest expression, ``(G(r + h e_k) - G(r - h e_k)) / 2h``, so the linear avatar is exact at rest
  and its error grows with the distance from it.

Deltas are sparse: a Gaussian keeps only the shapes that move it (by more than ``tolerance``, in
cm, cm per unit of the quaternion, or cm of scale, at weight 1), stored per Gaussian
(compressed rows): ``shape_start`` (N + 1,), then per entry its shape index and its three deltas.

Gaussian blendshapes follow Ma et al., "3D Gaussian Blendshapes for Head Avatar Animation"
(SIGGRAPH 2024), and RGBAvatar (Li et al., CVPR 2025), who render such avatars at hundreds of FPS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Condition
from headsplat.avatar.gaussians.store import GaussianSet
from headsplat.geometry import MODEL_TO_OPENCV, matrix_to_quaternion, quaternion_multiply
from headsplat.head.model import gaze_rotation

DELTA_DTYPE = np.float16
"""Deltas are stored at half precision: a 3 cm delta keeps 1.5e-3 cm (~0.015 px at 256 px)."""


@dataclass
class LinearAvatar:
    """An avatar as Gaussian blendshapes (see the module docstring). Arrays are numpy, as stored.

    Attributes:
        expression_names: (E,) the weights' order (ARKit names, ICT's _L/_R sides).
        means (N, 3), quats (N, 4) w first (not unit), scales (N, 3) cm, opacities (N,) in [0, 1],
            colours (N, 3) RGB in [0, 1]: the linear model at weights zero.
        head_weight: (N,) 1 follows the head's pose, 0 the torso's.
        eye: (N,) int8 the eyeball (0 or 1) a Gaussian turns with, -1 none.
        eye_centres: (2, 3) at weights zero; eye_centre_deltas (E, 2, 3) per unit weight.
        shape_start: (N + 1,) uint32: Gaussian i's deltas are entries shape_start[i]:shape_start[i+1].
        delta_shape: (M,) uint8 each entry's shape. delta_mean (M, 3), delta_quat (M, 4),
            delta_scale (M, 3): float16, per unit weight.
        rest_expression: (E,) the clip's face at rest. rest_rotation (3, 3), rest_translation (3,):
            the still torso's pose (and the head's mean pose) in the training camera's frame.
        K: (3, 3) the training camera at ``size`` px (OpenCV axes, at the world origin).
        size, fps, background: as the avatar's.
    """

    expression_names: list[str]
    means: np.ndarray
    quats: np.ndarray
    scales: np.ndarray
    opacities: np.ndarray
    colours: np.ndarray
    head_weight: np.ndarray
    eye: np.ndarray
    eye_centres: np.ndarray
    eye_centre_deltas: np.ndarray
    shape_start: np.ndarray
    delta_shape: np.ndarray
    delta_mean: np.ndarray
    delta_quat: np.ndarray
    delta_scale: np.ndarray
    rest_expression: np.ndarray
    rest_rotation: np.ndarray
    rest_translation: np.ndarray
    K: np.ndarray
    size: int
    fps: float
    background: float

    def __len__(self) -> int:
        return len(self.means)

    @property
    def n_entries(self) -> int:
        return len(self.delta_shape)

    def entry_gaussian(self) -> np.ndarray:
        """(M,) the Gaussian of each delta entry."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.shape_start.astype(np.int64)))


def _model_space(avatar: Avatar, expression: Tensor) -> GaussianSet:
    """The exact Gaussians at ``expression`` in model space: no pose, gaze ahead, the torso with
    the head, lit as the training camera saw the head from the front."""
    condition = avatar.condition(expression, rotation=torch.eye(3), translation=torch.zeros(3), torso=None)
    front = torch.from_numpy(MODEL_TO_OPENCV).float().to(avatar.device)
    return avatar.posed_gaussians(condition, front)


def _aligned(quats: Tensor, like: Tensor) -> Tensor:
    """``quats`` (N, 4) with signs flipped to lie in ``like``'s (N, 4) hemisphere."""
    return torch.where(((quats * like).sum(-1, keepdim=True) < 0), -quats, quats)


def _per_gaussian(values: Tensor, triangles: Tensor, triangle: Tensor, bary: Tensor) -> Tensor:
    """(N,) per-vertex ``values`` (V,) at each Gaussian's binding point."""
    return (values[triangles[triangle]] * bary).sum(-1)


@torch.no_grad()
def linearise(avatar: Avatar, step: float = 0.25, tolerance: float = 1e-3) -> LinearAvatar:
    """Gaussian blendshapes of ``avatar`` (see the module docstring).

    Args:
        step: h of the central differences about the rest expression (weights units).
        tolerance: a (Gaussian, shape) delta is dropped when its mean, quaternion and scale deltas
            all stay below this (cm, quaternion units, cm) at weight 1.
    """
    avatar = avatar.to("cpu")
    head, store = avatar.head, avatar.gaussians
    rest = avatar.neutral_expression.float()
    at_rest = _model_space(avatar, rest)
    n_shapes = len(rest)
    deltas = []
    for k in range(n_shapes):
        up, down = rest.clone(), rest.clone()
        up[k] += step
        down[k] -= step
        plus, minus = _model_space(avatar, up), _model_space(avatar, down)
        deltas.append(
            (
                (plus.means - minus.means) / (2 * step),
                (_aligned(plus.quats, at_rest.quats) - _aligned(minus.quats, at_rest.quats)) / (2 * step),
                (plus.scales - minus.scales) / (2 * step),
            )
        )
    d_mean, d_quat, d_scale = (torch.stack(parts, 1) for parts in zip(*deltas, strict=True))  # (N, E, .)
    weights = rest[None, :, None]
    means = at_rest.means - (weights * d_mean).sum(1)
    quats = at_rest.quats - (weights * d_quat).sum(1)
    scales = at_rest.scales - (weights * d_scale).sum(1)

    size = torch.maximum(d_mean.abs().amax(-1), torch.maximum(d_quat.abs().amax(-1), d_scale.abs().amax(-1)))
    keep = size > tolerance  # (N, E)
    gaussian, shape = keep.nonzero(as_tuple=True)  # row-major: grouped by Gaussian
    counts = keep.sum(1)
    shape_start = np.concatenate([[0], np.cumsum(counts.numpy())]).astype(np.uint32)

    torso = (
        avatar.mesh_deformers["still_torso"].head_weight if "still_torso" in avatar.mesh_deformers else None
    )
    head_weight = (
        torch.ones(len(store))
        if torso is None
        else _per_gaussian(torso, head.triangles, store.triangle, store.bary).clamp(0, 1)
    )
    corner_eyes = head.vertex_eye[head.triangles[store.triangle]]  # (N, 3)
    eye = torch.where((corner_eyes == corner_eyes[:, :1]).all(1), corner_eyes[:, 0], -1)
    half = lambda t: t.numpy().astype(DELTA_DTYPE)  # noqa: E731
    return LinearAvatar(
        expression_names=list(avatar.expression_names),
        means=means.numpy(),
        quats=quats.numpy(),
        scales=scales.numpy(),
        opacities=at_rest.opacities.numpy(),
        colours=at_rest.colours.numpy(),
        head_weight=head_weight.numpy().astype(np.float32),
        eye=eye.numpy().astype(np.int8),
        eye_centres=head.eye_centres.numpy().astype(np.float32),
        eye_centre_deltas=head.eye_centre_expression_basis.numpy().astype(np.float32),
        shape_start=shape_start,
        delta_shape=shape.numpy().astype(np.uint8),
        delta_mean=half(d_mean[gaussian, shape]),
        delta_quat=half(d_quat[gaussian, shape]),
        delta_scale=half(d_scale[gaussian, shape]),
        rest_expression=rest.numpy(),
        rest_rotation=avatar.rest_rotation.numpy(),
        rest_translation=avatar.rest_translation.numpy(),
        K=avatar.K.numpy(),
        size=avatar.size,
        fps=avatar.info["fps"],
        background=avatar.info["background"],
    )


def _nlerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """(N, 4) unit blends of quaternions ``a`` (4,) and ``b`` (4,) at ``t`` (N,) (0: a, 1: b)."""
    b = b if float((a * b).sum()) >= 0 else -b
    return torch.nn.functional.normalize((1 - t)[:, None] * a + t[:, None] * b, dim=-1)


def pose_linear(linear: LinearAvatar, condition: Condition) -> GaussianSet:
    """The world-space Gaussians of ``linear`` for ``condition`` (its torso None: with the head),
    the reference player of the export (the browser viewer's shader does the same)."""
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    weights = condition.expression.float().cpu()
    gaussian = torch.from_numpy(linear.entry_gaussian())
    entry_weight = weights[torch.from_numpy(linear.delta_shape.astype(np.int64))][:, None]
    n = len(linear)
    mix = lambda base, delta: t(base).index_add(0, gaussian, entry_weight * t(delta))  # noqa: E731
    means = mix(linear.means, linear.delta_mean)
    quats = torch.nn.functional.normalize(mix(linear.quats, linear.delta_quat), dim=-1)
    scales = mix(linear.scales, linear.delta_scale).clamp_min(1e-6)

    eye = torch.from_numpy(linear.eye.astype(np.int64))
    centres = t(linear.eye_centres) + torch.einsum("e,epd->pd", weights, t(linear.eye_centre_deltas))
    turns = gaze_rotation(condition.gaze.float().cpu())  # (2, 3, 3)
    for j in (0, 1):
        on = eye == j
        means[on] = (means[on] - centres[j]) @ turns[j].T + centres[j]
        quats[on] = quaternion_multiply(matrix_to_quaternion(turns[j])[None], quats[on])

    rotation, translation = condition.rotation.float().cpu(), condition.translation.float().cpu()
    torso = condition.torso or (rotation, translation)
    torso_rotation, torso_translation = (p.float().cpu() for p in torso)
    w = t(linear.head_weight)
    means = w[:, None] * (means @ rotation.T + translation) + (1 - w[:, None]) * (
        means @ torso_rotation.T + torso_translation
    )
    turn = _nlerp(matrix_to_quaternion(torso_rotation), matrix_to_quaternion(rotation), w)
    quats = quaternion_multiply(turn, quats)
    opacities, colours = t(linear.opacities).reshape(n), t(linear.colours)
    return GaussianSet(means, quats, scales, opacities, colours)
