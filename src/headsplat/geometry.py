"""Rotations, quaternions, axis conventions, spherical harmonics of directions and the edges of a
triangle mesh: pure functions, batched over leading dimensions.

Used by the head model, the tracker, the avatar and its apps alike (nothing here depends on them).
Quaternions are (w, x, y, z).
"""

from __future__ import annotations

import numpy as np
import torch

MODEL_TO_OPENCV = np.diag([1.0, -1.0, -1.0])
"""Model axes: x to the subject's left, y up, z forward (towards the viewer). OpenCV camera axes: x
right, y down, z forward. A head facing the camera has this rotation (180 degrees about x)."""


def skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) vectors -> (..., 3, 3) cross-product matrices."""
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v.unbind(-1)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_matrix(r: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) axis * angle -> (..., 3, 3) rotation, smooth at zero."""
    theta2 = (r * r).sum(-1, keepdim=True)[..., None]
    small = theta2 < 1e-8
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    # Taylor series near zero keeps the gradient finite at r = 0.
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta * theta))
    K = skew(r)
    eye = torch.eye(3, dtype=r.dtype, device=r.device).expand(K.shape)
    return eye + a * K + b * (K @ K)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations -> (..., 3) axis * angle (angle in [0, pi))."""
    cos = ((R.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    angle = torch.acos(cos)
    axis = torch.stack(
        [R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1
    )
    sin = torch.sin(angle)[..., None]
    scale = torch.where(sin.abs() < 1e-6, 0.5 * torch.ones_like(sin), angle[..., None] / (2 * sin))
    return axis * scale


def view_angles(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(..., 2) yaw and pitch in degrees from which a camera at the origin sees a head posed by
    ``rotation`` (..., 3, 3) and ``translation`` (..., 3) (model -> OpenCV camera).

    The direction to the camera in model axes, so a head off the optical axis counts as the view it
    gives: yaw > 0 when the camera sits towards the subject's left (the head turned to its right,
    its left cheek shown), pitch > 0 when it sits above. 0, 0: seen face on.
    """
    to_camera = np.einsum("...ji,...j->...i", rotation, -np.asarray(translation, float))
    to_camera = to_camera / np.linalg.norm(to_camera, axis=-1, keepdims=True)
    yaw = np.arctan2(to_camera[..., 0], to_camera[..., 2])
    pitch = np.arcsin(np.clip(to_camera[..., 1], -1.0, 1.0))
    return np.degrees(np.stack([yaw, pitch], axis=-1))


def rotation_angle_deg(R_a: torch.Tensor, R_b: torch.Tensor) -> torch.Tensor:
    """Angle (degrees) of the relative rotation between (..., 3, 3) rotations."""
    relative = R_a.transpose(-1, -2) @ R_b
    cos = ((relative.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return torch.rad2deg(torch.acos(cos))


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product (..., 4) x (..., 4): the rotation ``a`` applied after ``b``."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions of any non-zero norm -> (..., 3, 3) rotations."""
    w, x, y, z = (q / q.norm(dim=-1, keepdim=True)).unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*q.shape[:-1], 3, 3)  # fmt: skip


def matrix_to_quaternion(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations -> (..., 4) unit quaternions with w >= 0.

    Shepperd's method: take the largest of the four squared components to avoid dividing by a
    small number, so it is stable for every rotation.
    """
    m = R
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    candidates = torch.stack(
        [
            torch.stack(
                [
                    1 + trace,
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                    m[..., 0, 1] + m[..., 1, 0],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 0, 1] + m[..., 1, 0],
                    1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                    m[..., 1, 2] + m[..., 2, 1],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 1, 2] + m[..., 2, 1],
                    1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
                ],
                -1,
            ),
        ],
        dim=-2,
    )  # (..., 4, 4): row k is 4 q_k q (a multiple of q)
    diagonal = torch.stack(
        [
            1 + trace,
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )
    best = diagonal.argmax(-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    q = q / q.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions of any non-zero norm -> (..., 3) axis * angle, angle in [0, pi] (q and
    -q are the same rotation: the one with w >= 0 is taken)."""
    q = q / q.norm(dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)
    vector = q[..., 1:]
    sine = vector.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sine, q[..., :1])
    # angle / sin(angle / 2) -> 2 at zero; guarded so the gradient stays finite there.
    ratio = torch.where(sine < 1e-6, 2 / q[..., :1].clamp_min(1e-6), angle / sine.clamp_min(1e-12))
    return vector * ratio


def axis_angle_to_quaternion(r: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis * angle -> (..., 4) unit quaternions, smooth at zero."""
    theta2 = (r * r).sum(-1, keepdim=True)
    small = theta2 < 1e-8
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    half_sine = torch.where(small, 0.5 - theta2 / 48, torch.sin(theta / 2) / theta)
    cosine = torch.where(small, 1 - theta2 / 8, torch.cos(theta / 2))
    return torch.cat([cosine, r * half_sine], dim=-1)


def sh_basis(normals: torch.Tensor, degree: int) -> torch.Tensor:
    """(..., K) real spherical harmonics of degrees 1..``degree`` (K = 3 or 8) at unit ``normals``
    (..., 3), without their normalising constants (the coefficients absorb them): the shading of a
    distant light (Ramamoorthi and Hanrahan 2001)."""
    x, y, z = normals.unbind(-1)
    terms = [y, z, x]
    if degree >= 2:
        terms += [x * y, y * z, 3 * z * z - 1, x * z, x * x - y * y]
    return torch.stack(terms, dim=-1)


def triangle_edges(triangles: torch.Tensor) -> torch.Tensor:
    """(3T, 2) every triangle's three edges of ``triangles`` (T, 3), smaller vertex index first
    (an edge two triangles share appears twice)."""
    pairs = torch.cat([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    return torch.sort(pairs, dim=1).values


def mesh_edges(triangles: torch.Tensor) -> torch.Tensor:
    """(E, 2) the unique undirected edges of ``triangles`` (T, 3), smaller index first, in
    lexicographic order."""
    return torch.unique(triangle_edges(triangles), dim=0)
