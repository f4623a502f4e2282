"""The personalised, posed head mesh of every frame (FATE §3.2).

    V_f = R_f (V0 + B_id . identity + (B_exp + dB_exp) . expression_f + dV0, gaze_f) + t_f

blended down the neck towards the torso's still pose (:func:`torso_pose`, :func:`neck_weights`).

Identity, per-frame rotation R_f, translation t_f, expression and gaze come from tracking; the
avatar learns personalised blendshape corrections dB_exp and a neutral correction dV0 (kept small
by :meth:`PersonalisedHead.weight_decays`, dV0 smooth by :meth:`PersonalisedHead.smoothness`),
and per-frame corrections of the tracked pose and expression (:class:`FrameCorrections`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from headsplat.geometry import axis_angle_to_matrix
from headsplat.head.model import HeadModel, apply_gaze


def uniform_laplacian(triangles: np.ndarray, n_vertices: int) -> torch.Tensor:
    """Sparse (V, V) uniform graph Laplacian L = I - D^-1 A over the triangles' edges."""
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    degree = np.bincount(rows, minlength=n_vertices).astype(np.float32)
    weights = -1.0 / np.maximum(degree[rows], 1)
    index = np.concatenate([np.stack([rows, cols]), np.tile(np.arange(n_vertices), (2, 1))], axis=1)
    values = np.concatenate([weights, (degree > 0).astype(np.float32)])
    return torch.sparse_coo_tensor(
        torch.from_numpy(index), torch.from_numpy(values), (n_vertices, n_vertices), check_invariants=True
    ).coalesce()


def neck_weights(neutral: torch.Tensor, top: float, bottom: float) -> torch.Tensor:
    """(V,) how far each vertex of ``neutral`` (V, 3) follows the head rather than the torso.

    1 above model height ``top``, 0 below ``bottom``, smoothstep between: the neck bends over its
    length, so its base stays with the shoulders while the skull turns (two-bone linear blend
    skinning, as SMPL/FLAME's neck joint, with weights from height instead of a rig).
    """
    ramp = ((neutral[:, 1] - bottom) / (top - bottom)).clamp(0, 1)
    return ramp * ramp * (3 - 2 * ramp)


def torso_pose(rotation: torch.Tensor, translation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The still torso of a clip: chordal mean (3, 3) of the head rotations (F, 3, 3) and the mean
    (3,) of the translations (F, 3).

    Monocular head clips (selfies, talking heads) move the head far more than the shoulders, so
    one pose per clip stands for the torso.
    """
    u, _, vt = torch.linalg.svd(rotation.mean(0))
    mean = u @ vt
    if torch.det(mean) < 0:
        mean = u @ torch.diag(torch.tensor([1.0, 1.0, -1.0], device=u.device)) @ vt
    return mean, translation.mean(0)


class PersonalisedHead(nn.Module):
    """The head model with one identity and learnable personal corrections.

    Args:
        model: the head model. identity: (I,) tracked identity coefficients.
    """

    def __init__(self, model: HeadModel, identity: np.ndarray, neck: tuple[float, float] | None = None):
        super().__init__()
        identity = torch.as_tensor(identity, dtype=torch.float32)
        shape = model.shape
        neutral = torch.from_numpy(shape.mean) + torch.einsum(
            "i,ivd->vd", identity, torch.from_numpy(shape.identity_basis)
        )
        self.register_buffer("neutral", neutral)
        head_weight = torch.ones(len(neutral)) if neck is None else neck_weights(neutral, *neck)
        self.register_buffer("head_weight", head_weight)
        self.register_buffer("expression_basis", torch.from_numpy(shape.expression_basis).clone())
        self.delta_expression_basis = nn.Parameter(torch.zeros_like(self.expression_basis))
        self.delta_neutral = nn.Parameter(torch.zeros_like(neutral))
        self.register_buffer("triangles", torch.from_numpy(model.triangles))
        eye = model.vertex_eye
        self.eye = eye
        centres = model.eye_centres
        self.register_buffer(
            "eye_centres",
            torch.from_numpy(centres.mean)
            + torch.einsum("i,ipd->pd", identity, torch.from_numpy(centres.identity_basis)),
        )
        self.register_buffer("eye_centre_expression_basis", torch.from_numpy(centres.expression_basis))
        with warnings.catch_warnings():  # "sparse CSR support is in beta": products are all we use
            warnings.simplefilter("ignore", UserWarning)
            # CSR: its product is 2x faster than COO's on the CPU.
            laplacian = uniform_laplacian(model.triangles, model.n_vertices).to_sparse_csr()
        self.register_buffer("laplacian", laplacian)

    def correction(self, expression: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) the learned personal displacement dV0 + dB_exp . expression for (B, E)."""
        return self.delta_neutral + torch.einsum("be,evd->bvd", expression, self.delta_expression_basis)

    def canonical(self, expression: torch.Tensor, gaze: torch.Tensor | None = None) -> torch.Tensor:
        """(B, V, 3) vertices in model space for expression (B, E) and gaze (B, 2, 2)."""
        # Two products rather than one with (basis + delta): no 4M-entry sum every step.
        vertices = self.neutral + torch.einsum("be,evd->bvd", expression, self.expression_basis)
        vertices = vertices + self.correction(expression)
        if gaze is None:
            return vertices
        centres = self.eye_centres + torch.einsum("be,epd->bpd", expression, self.eye_centre_expression_basis)
        return apply_gaze(vertices, self.eye, centres, gaze)

    def forward(
        self,
        expression: torch.Tensor,
        gaze: torch.Tensor | None,
        rotation: torch.Tensor,
        translation: torch.Tensor,
        torso: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """(B, V, 3) camera-space vertices: rotation (B, 3, 3), translation (B, 3); the neck
        blended towards ``torso`` = (rotation (3, 3), translation (3,)) when given."""
        canonical = self.canonical(expression, gaze)
        posed = canonical @ rotation.transpose(-1, -2) + translation[:, None, :]
        if torso is None:
            return posed
        still = canonical @ torso[0].T + torso[1]
        return still + self.head_weight[:, None] * (posed - still)

    def smoothness(self) -> torch.Tensor:
        """Mean squared uniform Laplacian of the neutral correction dV0.

        dB_exp is not smoothed: smoothing it at each frame's expression (same weight) cost 1.8 dB
        held out on d5 (26.4 vs 28.2 dB PSNR at 2000 steps), probably because lips and eyelids
        need corrections that are sharp across their edges.
        """
        return (self.laplacian @ self.delta_neutral).pow(2).sum(-1).mean()

    def weight_decays(self, offset_weight: float, blendshape_weight: float) -> dict[str, float]:
        """Adam L2 coefficients equal to the magnitude penalties ``offset_weight`` x mean over
        vertices of |dV0|^2 and ``blendshape_weight`` x mean over (shape, vertex) of |dB_exp|^2
        (gradient 2 w p / count): applied inside the fused optimizer step, they cost nothing,
        where the loss terms cost two passes over dB_exp's 4M entries each step."""
        n_expression, n_vertices = self.delta_expression_basis.shape[:2]
        return {
            "delta_neutral": 2 * offset_weight / n_vertices,
            "delta_expression_basis": 2 * blendshape_weight / (n_expression * n_vertices),
        }


class FrameCorrections(nn.Module):
    """Learnable per-frame corrections of the tracked rotation (axis-angle), translation and expression."""

    def __init__(self, n_frames: int, n_expression: int):
        super().__init__()
        self.rotation = nn.Parameter(torch.zeros(n_frames, 3))
        self.translation = nn.Parameter(torch.zeros(n_frames, 3))
        self.expression = nn.Parameter(torch.zeros(n_frames, n_expression))

    def apply(
        self,
        frames: torch.Tensor,
        rotation: torch.Tensor,
        translation: torch.Tensor,
        expression: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Corrected (rotation (B,3,3), translation (B,3), expression (B,E)) of frames (B,).

        The rotation correction acts in model space, i.e. about the head, not the camera.
        """
        corrected = rotation @ axis_angle_to_matrix(self.rotation[frames])
        return corrected, translation + self.translation[frames], expression + self.expression[frames]
