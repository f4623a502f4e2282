"""The avatar made linear in its blendshape weights, for players outside headsplat (engines, the
browser viewer): Gaussian blendshapes.

The head mesh's vertices are linear in the weights ``e`` (the head model, the personal
blendshapes and sparse control in its linear mode are; a model-space deformer that is not, such
as sparse control's MLP, is exported as its secant between the weights 0 and 1),

    v(e) = v_0 + sum_k e_k dv_k        (model space: cm, x to the subject's left, y up, z forward)

and each Gaussian is bound to its triangle as in the avatar (:mod:`~headsplat.avatar.gaussians.binding`),
a few lines a player runs per Gaussian (:func:`pose_linear`):

    c0, c1, c2 = its triangle's vertices;  e1, e2 = c1 - c0, c2 - c0;  n = unit(e1 x e2)
    F = [unit(e1), n x unit(e1), n];   E = (|e1| + |e2| + |c2 - c1|) / 3
    mean = sum_k bary_k c_k + offset E n,   rotation = F . local_rotation,   scale = cap(E exp(log_scale))

so the export renders as the avatar does. Deltas of each Gaussian's mean, quaternion and scale
(GaussianBlendshapes' form) do not: linearised by central differences about the rest expression
or fitted by least squares over the clip's expressions, they render visibly off the exact avatar,
because with many weights high together the triangles' normals and frames, cross products of the
edges, are far from linear in the weights. Per-Gaussian deltas of the triangles' corners are exact
too but several times the size: triangles share vertices, and the mesh's deltas are dense (the
learned personal blendshapes move most vertices a little for every shape; dropping even deltas
under 0.1 mm costs much of the accuracy). Measurements: docs/quality.md, section
"`avatar.linear`". The export keeps only the vertices the Gaussians use. What is not linear in
the weights is done as the avatar does it:

* gaze: an eyeball's vertices turn about its centre, which moves linearly with the weights;
* pose: each vertex blends the head's rigid pose and the still torso's by its neck weight
  (:func:`~headsplat.avatar.deformers.torso.neck_weights`), so the neck stretches as the avatar's;
* what the Gaussian deformers do to colours (``shading``'s light) is baked as the training camera
  saw the head from the front, as in the .ply export; no Gaussian deformer moves Gaussians yet.

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
from headsplat.avatar.gaussians.binding import corner_frames
from headsplat.avatar.gaussians.store import GaussianSet, soft_cap
from headsplat.geometry import MODEL_TO_OPENCV, matrix_to_quaternion, quaternion_multiply
from headsplat.head.model import apply_gaze
from headsplat.io.errors import InputError

DELTA_DTYPE = np.float16
"""The vertices' deltas are stored at half precision: a 3 cm delta keeps 1.5e-3 cm (0.015 px at
256 px), and the test frames render as the exact avatar does (measurements: docs/quality.md,
section "`avatar.linear`")."""


@dataclass
class LinearAvatar:
    """An avatar as Gaussian blendshapes (see the module docstring). Arrays are numpy, as stored.

    Attributes:
        expression_names: (E,) the weights' order (ARKit names, ICT's _L/_R sides).
        vertices: (U, 3) the head mesh's vertices the Gaussians use, at weights zero, cm.
        vertex_deltas: (E, U, 3) float16, cm per unit weight.
        vertex_head_weight: (U,) each vertex's neck weight: 1 follows the head's pose, 0 the torso's.
        vertex_eye: (U,) int8 the eyeball (0 or 1) a vertex turns with, -1 none.
        eye_centres: (2, 3) at weights zero; eye_centre_deltas (E, 2, 3) per unit weight.
        triangles: (N, 3) uint32 each Gaussian's triangle (indices into ``vertices``).
        bary: (N, 3) its anchor's barycentric weights.
        offsets: (N,) distance along the normal, in mean edge lengths.
        local_quats: (N, 4) unit, w first: rotation in the triangle's frame.
        log_scales: (N, 3) log of the scale relative to the mean edge length.
        scale_caps: (N,) cm, the soft cap of the scales (+inf: none).
        opacities (N,) in [0, 1], colours (N, 3) RGB in [0, 1].
        rest_expression: (E,) the clip's face at rest. rest_rotation (3, 3), rest_translation (3,):
            the still torso's pose (and the head's mean pose) in the training camera's frame.
        K: (3, 3) the training camera at ``size`` px (OpenCV axes, at the world origin).
        size, fps, background: as the avatar's.
    """

    expression_names: list[str]
    vertices: np.ndarray
    vertex_deltas: np.ndarray
    vertex_head_weight: np.ndarray
    vertex_eye: np.ndarray
    eye_centres: np.ndarray
    eye_centre_deltas: np.ndarray
    triangles: np.ndarray
    bary: np.ndarray
    offsets: np.ndarray
    local_quats: np.ndarray
    log_scales: np.ndarray
    scale_caps: np.ndarray
    opacities: np.ndarray
    colours: np.ndarray
    rest_expression: np.ndarray
    rest_rotation: np.ndarray
    rest_translation: np.ndarray
    K: np.ndarray
    size: int
    fps: float
    background: float

    def __len__(self) -> int:
        return len(self.triangles)


def _model_condition(avatar: Avatar, expression: Tensor) -> Condition:
    """``expression`` in model space: no pose, gaze ahead, the torso with the head."""
    return avatar.condition(expression, rotation=torch.eye(3), translation=torch.zeros(3), torso=None)


@torch.no_grad()
def linearise(avatar: Avatar) -> LinearAvatar:
    """Gaussian blendshapes of ``avatar`` (see the module docstring).

    Raises:
        InputError: the avatar has a Gaussian deformer that moves Gaussians with the condition,
            which the export cannot hold.
    """
    moving = [name for name, d in avatar.gaussian_deformers.items() if d.moves_gaussians]
    if moving:
        raise InputError(
            f"this avatar's {', '.join(moving)} moves its Gaussians with the expression or pose, which the "
            "blendshape export and the viewer cannot play yet; export it with --ply or --sequence."
        )
    avatar = avatar.to("cpu")
    head, store = avatar.head, avatar.gaussians
    used, triangles = torch.unique(head.triangles[store.triangle], return_inverse=True)
    n_shapes = len(avatar.expression_names)
    mesh = lambda weights: avatar.mesh(_model_condition(avatar, weights))[0][used]  # noqa: E731
    base = mesh(torch.zeros(n_shapes))
    # Each shape's delta is its mesh at weight 1 less the mesh at zero: exact for a mesh linear in
    # the weights (the head model, the personal blendshapes), the secant for a mechanism that is not.
    deltas = torch.stack([mesh(unit) - base for unit in torch.eye(n_shapes)])  # (E, U, 3)
    torso = avatar.mesh_deformers["still_torso"] if "still_torso" in avatar.mesh_deformers else None  # noqa: SIM401 (a ModuleDict)
    head_weight = torch.ones(len(used)) if torso is None else torso.head_weight[used]
    # Colours and opacities as the avatar renders them at rest, seen from the front.
    front = torch.from_numpy(MODEL_TO_OPENCV).float()
    at_rest = avatar.posed_gaussians(_model_condition(avatar, avatar.neutral_expression), front)
    return LinearAvatar(
        expression_names=list(avatar.expression_names),
        vertices=base.numpy(),
        vertex_deltas=deltas.numpy().astype(DELTA_DTYPE),
        vertex_head_weight=head_weight.numpy(),
        vertex_eye=head.vertex_eye[used].numpy().astype(np.int8),
        eye_centres=head.eye_centres.numpy().astype(np.float32),
        eye_centre_deltas=head.eye_centre_expression_basis.numpy().astype(np.float32),
        triangles=triangles.numpy().astype(np.uint32),
        bary=store.bary.numpy(),
        offsets=store.offset_distance(head.hair_triangles())[:, 0].numpy(),
        local_quats=torch.nn.functional.normalize(store.rotation, dim=-1).numpy(),
        log_scales=store.log_scale.numpy(),
        scale_caps=store.max_scale(head.opening_distance())[:, 0].numpy(),
        opacities=at_rest.opacities.numpy(),
        colours=at_rest.colours.numpy(),
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
    vertices = t(linear.vertices) + torch.einsum("e,evd->vd", weights, t(linear.vertex_deltas))
    centres = t(linear.eye_centres) + torch.einsum("e,epd->pd", weights, t(linear.eye_centre_deltas))
    vertices = apply_gaze(vertices, linear.vertex_eye.astype(np.int64), centres, condition.gaze.float().cpu())

    rotation, translation = condition.rotation.float().cpu(), condition.translation.float().cpu()
    torso = condition.torso or (rotation, translation)
    torso_rotation, torso_translation = (p.float().cpu() for p in torso)
    still = vertices @ torso_rotation.T + torso_translation
    vertices = still + t(linear.vertex_head_weight)[:, None] * (vertices @ rotation.T + translation - still)

    corners = vertices[torch.from_numpy(linear.triangles.astype(np.int64))]  # (N, 3, 3)
    frames = corner_frames(corners)
    anchor = (t(linear.bary)[..., None] * corners).sum(-2)
    means = anchor + (t(linear.offsets) * frames.scale)[:, None] * frames.rotation[..., 2]
    quats = quaternion_multiply(matrix_to_quaternion(frames.rotation), t(linear.local_quats))
    scales = soft_cap(frames.scale[:, None] * torch.exp(t(linear.log_scales)), t(linear.scale_caps)[:, None])
    return GaussianSet(means, quats, scales, t(linear.opacities), t(linear.colours))
