"""The avatar made linear in its blendshape weights, for players outside headsplat (engines, the
browser viewer): Gaussian blendshapes.

Each Gaussian is bound to its triangle as in the avatar (:mod:`~headsplat.avatar.gaussians.binding`):
its triangle's three corners ``c`` are linear in the weights ``e``,

    c(e) = c_0 + sum_k e_k dc_k        (model space: cm, x to the subject's left, y up, z forward)

and the rest is the binding itself, a few lines a player runs per Gaussian (:func:`pose_linear`):

    F = frame(c)  (columns e1/|e1|, n x e1/|e1|, n; e1 = c1 - c0, n the unit normal)
    E = mean edge length,  anchor = sum_k bary_k c_k
    mean = anchor + offset E n,   rotation = F . local_rotation,   scale = cap(E exp(log_scale))

so the export is exact wherever the avatar's mesh is linear in the weights (the head model and the
personal blendshapes are). Deltas of the Gaussians' means, quaternions and scales
(GaussianBlendshapes' form) are not: linearised by central differences about the rest expression,
that form scored d12's test frames 35.4 dB against the exact avatar (min 29.5; fitted by least
squares over the clip's expressions, 35.2-35.6): when many weights are high together, the
triangles' normals and frames, cross products of the edges, are far from linear. What is not
linear in the weights is done as the avatar does it, exactly:

* gaze: the corners of a Gaussian on an eyeball turn about that eyeball's centre, which moves
  linearly with the weights;
* pose: each corner blends the head's rigid pose and the still torso's by its neck weight
  (:func:`~headsplat.avatar.deformers.torso.neck_weights`), as the mesh's vertices do, so the
  neck's triangles stretch as the avatar's;
* what the Gaussian deformers do to colours (``shading``'s light) is baked as the training camera
  saw the head from the front, as in the .ply export; no Gaussian deformer moves Gaussians yet.

Deltas are sparse: a Gaussian keeps only the shapes that move one of its corners by more than
``tolerance`` cm at weight 1, stored per Gaussian (compressed rows): ``shape_start`` (N + 1,),
then per entry its shape index and its corners' deltas, at half precision.

Gaussian blendshapes follow Ma et al., "3D Gaussian Blendshapes for Head Avatar Animation"
(SIGGRAPH 2024) and RGBAvatar (Li et al., CVPR 2025), who render such avatars at hundreds of FPS;
the binding is GaussianAvatars' (Qian et al., CVPR 2024).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Condition
from headsplat.avatar.gaussians.binding import corner_frames, gather_vertices
from headsplat.avatar.gaussians.store import GaussianSet, soft_cap
from headsplat.geometry import MODEL_TO_OPENCV, matrix_to_quaternion, quaternion_multiply
from headsplat.head.model import gaze_rotation

DELTA_DTYPE = np.float16
"""Deltas are stored at half precision: a 3 cm delta keeps 1.5e-3 cm (~0.015 px at 256 px)."""


@dataclass
class LinearAvatar:
    """An avatar as Gaussian blendshapes (see the module docstring). Arrays are numpy, as stored.

    Attributes:
        expression_names: (E,) the weights' order (ARKit names, ICT's _L/_R sides).
        corners: (N, 3, 3) each Gaussian's triangle's corners at weights zero, cm.
        bary: (N, 3) its anchor's barycentric weights.
        offsets: (N,) distance along the normal, in mean edge lengths.
        local_quats: (N, 4) unit, w first: rotation in the triangle's frame.
        log_scales: (N, 3) log of the scale relative to the mean edge length.
        scale_caps: (N,) cm, the soft cap of the scales (+inf: none).
        opacities (N,) in [0, 1], colours (N, 3) RGB in [0, 1].
        head_weight: (N, 3) each corner's neck weight: 1 follows the head's pose, 0 the torso's.
        eye: (N,) int8 the eyeball (0 or 1) a Gaussian turns with, -1 none.
        eye_centres: (2, 3) at weights zero; eye_centre_deltas (E, 2, 3) per unit weight.
        shape_start: (N + 1,) uint32: Gaussian i's deltas are entries shape_start[i]:shape_start[i+1].
        delta_shape: (M,) uint8 each entry's shape. delta_corners (M, 3, 3): float16, cm per
            unit weight.
        rest_expression: (E,) the clip's face at rest. rest_rotation (3, 3), rest_translation (3,):
            the still torso's pose (and the head's mean pose) in the training camera's frame.
        K: (3, 3) the training camera at ``size`` px (OpenCV axes, at the world origin).
        size, fps, background: as the avatar's.
    """

    expression_names: list[str]
    corners: np.ndarray
    bary: np.ndarray
    offsets: np.ndarray
    local_quats: np.ndarray
    log_scales: np.ndarray
    scale_caps: np.ndarray
    opacities: np.ndarray
    colours: np.ndarray
    head_weight: np.ndarray
    eye: np.ndarray
    eye_centres: np.ndarray
    eye_centre_deltas: np.ndarray
    shape_start: np.ndarray
    delta_shape: np.ndarray
    delta_corners: np.ndarray
    rest_expression: np.ndarray
    rest_rotation: np.ndarray
    rest_translation: np.ndarray
    K: np.ndarray
    size: int
    fps: float
    background: float

    def __len__(self) -> int:
        return len(self.corners)

    @property
    def n_entries(self) -> int:
        return len(self.delta_shape)

    def entry_gaussian(self) -> np.ndarray:
        """(M,) the Gaussian of each delta entry."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.shape_start.astype(np.int64)))


def _model_condition(avatar: Avatar, expression: Tensor) -> Condition:
    """``expression`` in model space: no pose, gaze ahead, the torso with the head."""
    return avatar.condition(expression, rotation=torch.eye(3), translation=torch.zeros(3), torso=None)


def _corners(avatar: Avatar, mesh: Tensor) -> Tensor:
    """(..., N, 3, 3) each Gaussian's triangle's corners on ``mesh`` (..., V, 3)."""
    return gather_vertices(mesh, avatar.head.triangles[avatar.gaussians.triangle])


@torch.no_grad()
def linearise(avatar: Avatar, tolerance: float = 1e-3) -> LinearAvatar:
    """Gaussian blendshapes of ``avatar`` (see the module docstring).

    Args:
        tolerance: a (Gaussian, shape) delta is dropped when its anchor and edges all move by
            less than this (cm) at weight 1.
    """
    avatar = avatar.to("cpu")
    head, store = avatar.head, avatar.gaussians
    n_shapes = len(avatar.expression_names)
    zero = torch.zeros(n_shapes)
    base = _corners(avatar, avatar.mesh(_model_condition(avatar, zero))[0])  # (N, 3, 3)
    # The mesh is linear in the weights (the head model, the personal blendshapes): each shape's
    # delta is its mesh at weight 1 less the mesh at zero (for a mechanism that is not, the secant).
    unit = torch.eye(n_shapes)
    deltas = [
        _corners(avatar, avatar.mesh(_model_condition(avatar, unit[k]))[0]) - base for k in range(n_shapes)
    ]
    deltas = torch.stack(deltas, 1)  # (N, E, 3, 3)
    keep = deltas.abs().amax((-1, -2)) > tolerance  # (N, E)
    gaussian, shape = keep.nonzero(as_tuple=True)  # row-major: grouped by Gaussian
    shape_start = np.concatenate([[0], np.cumsum(keep.sum(1).numpy())]).astype(np.uint32)
    corner_ids = head.triangles[store.triangle]  # (N, 3)
    torso = avatar.mesh_deformers["still_torso"] if "still_torso" in avatar.mesh_deformers else None  # noqa: SIM401 (a ModuleDict)
    head_weight = torch.ones(corner_ids.shape) if torso is None else torso.head_weight[corner_ids]
    corner_eyes = head.vertex_eye[corner_ids]
    eye = torch.where((corner_eyes == corner_eyes[:, :1]).all(1), corner_eyes[:, 0], -1)
    # Colours and opacities as the avatar renders them at rest, seen from the front.
    front = torch.from_numpy(MODEL_TO_OPENCV).float()
    at_rest = avatar.posed_gaussians(_model_condition(avatar, avatar.neutral_expression), front)
    kept = deltas[gaussian, shape]  # (M, 3, 3)
    half = lambda t: t.numpy().astype(DELTA_DTYPE)  # noqa: E731
    return LinearAvatar(
        expression_names=list(avatar.expression_names),
        corners=base.numpy(),
        bary=store.bary.numpy(),
        offsets=store.offset_distance(head.hair_triangles())[:, 0].numpy(),
        local_quats=torch.nn.functional.normalize(store.rotation, dim=-1).numpy(),
        log_scales=store.log_scale.numpy(),
        scale_caps=store.max_scale(head.opening_distance())[:, 0].numpy(),
        opacities=at_rest.opacities.numpy(),
        colours=at_rest.colours.numpy(),
        head_weight=head_weight.numpy(),
        eye=eye.numpy().astype(np.int8),
        eye_centres=head.eye_centres.numpy().astype(np.float32),
        eye_centre_deltas=head.eye_centre_expression_basis.numpy().astype(np.float32),
        shape_start=shape_start,
        delta_shape=shape.numpy().astype(np.uint8),
        delta_corners=half(kept),
        rest_expression=avatar.neutral_expression.float().numpy(),
        rest_rotation=avatar.rest_rotation.numpy(),
        rest_translation=avatar.rest_translation.numpy(),
        K=avatar.K.numpy(),
        size=avatar.size,
        fps=avatar.info["fps"],
        background=avatar.info["background"],
    )


def pose_linear(linear: LinearAvatar, condition: Condition) -> GaussianSet:
    """The world-space Gaussians of ``linear`` for ``condition`` (its torso None: with the head),
    the reference player of the export (the browser viewer's shader does the same)."""
    t = lambda a: torch.tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    weights = condition.expression.float().cpu()
    gaussian = torch.from_numpy(linear.entry_gaussian())
    entry_weight = weights[torch.from_numpy(linear.delta_shape.astype(np.int64))][:, None, None]
    corners = t(linear.corners).index_add(0, gaussian, entry_weight * t(linear.delta_corners))  # (N, 3, 3)

    eye = torch.from_numpy(linear.eye.astype(np.int64))
    centres = t(linear.eye_centres) + torch.einsum("e,epd->pd", weights, t(linear.eye_centre_deltas))
    turns = gaze_rotation(condition.gaze.float().cpu())  # (2, 3, 3)
    for j in (0, 1):
        on = eye == j
        corners[on] = (corners[on] - centres[j]) @ turns[j].T + centres[j]

    rotation, translation = condition.rotation.float().cpu(), condition.translation.float().cpu()
    torso = condition.torso or (rotation, translation)
    torso_rotation, torso_translation = (p.float().cpu() for p in torso)
    still = corners @ torso_rotation.T + torso_translation
    corners = still + t(linear.head_weight)[..., None] * (corners @ rotation.T + translation - still)

    frames = corner_frames(corners)
    anchor = (t(linear.bary)[..., None] * corners).sum(-2)
    means = anchor + (t(linear.offsets) * frames.scale)[:, None] * frames.rotation[..., 2]
    quats = quaternion_multiply(matrix_to_quaternion(frames.rotation), t(linear.local_quats))
    scales = soft_cap(frames.scale[:, None] * torch.exp(t(linear.log_scales)), t(linear.scale_caps)[:, None])
    return GaussianSet(means, quats, scales, t(linear.opacities), t(linear.colours))
