"""Gaussians bound to mesh triangles (FATE / GaussianAvatars binding).

Each Gaussian lives on a triangle: barycentric weights pick its point, an offset moves it along
the triangle's normal, and its rotation and scale are local to the triangle's frame:

    mean     = sum_k bary_k v_k + offset * s_face * n
    rotation = R_face . R_local
    scale    = s_face * exp(log_scale)

R_face has columns (e1, n x e1, n) with e1 along the triangle's first edge and n its unit normal;
s_face is the mean edge length (offset and scale are relative to it, as GaussianAvatars' local
positions are). A rigid motion or uniform scaling of the triangle therefore moves,
turns and scales its Gaussians exactly with it (Qian et al., "GaussianAvatars", CVPR 2024; Zhang
et al., "FATE", CVPR 2025, who place the Gaussians by UV sampling).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from headsplat.geometry import matrix_to_quaternion, quaternion_multiply


class FaceFrames(NamedTuple):
    """Per-triangle frames.

    Attributes:
        rotation: (..., T, 3, 3) columns e1, e2, n.
        scale: (..., T) mean edge length.
    """

    rotation: torch.Tensor
    scale: torch.Tensor


class WorldGaussians(NamedTuple):
    """Gaussians in world space, as :func:`headsplat.render.rasterize` takes them.

    Attributes:
        means: (..., N, 3). quats: (..., N, 4) unit, w first. scales: (..., N, 3).
    """

    means: torch.Tensor
    quats: torch.Tensor
    scales: torch.Tensor


def gather_vertices(vertices: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``vertices[..., index, :]``, deterministically: (..., V, 3) and index (*I) -> (..., *I, 3).

    Through ``index_select``, whose backward (``index_add_``) sums the gradient rows in a fixed
    order on the CPU. The backward of advanced indexing, ``index_put_(accumulate=True)``, adds
    with float atomics from several threads once the index has 32k+ entries, so training would
    differ from run to run in the last bits, and then by whole Gaussians after densification.
    """
    return vertices.index_select(-2, index.reshape(-1)).unflatten(-2, index.shape)


def corner_frames(corners: torch.Tensor) -> FaceFrames:
    """:func:`face_frames` of triangles given by their corners (..., T, 3, 3)."""
    v0, v1, v2 = corners.unbind(-2)
    edge1, edge2 = v1 - v0, v2 - v0
    e1 = torch.nn.functional.normalize(edge1, dim=-1)
    n = torch.nn.functional.normalize(torch.cross(edge1, edge2, dim=-1), dim=-1)
    e2 = torch.cross(n, e1, dim=-1)
    scale = (edge1.norm(dim=-1) + edge2.norm(dim=-1) + (v2 - v1).norm(dim=-1)) / 3
    return FaceFrames(torch.stack([e1, e2, n], dim=-1), scale)


def face_frames(vertices: torch.Tensor, triangles: torch.Tensor) -> FaceFrames:
    """Orthonormal frame and size of every triangle.

    Args:
        vertices: (..., V, 3). triangles: (T, 3) vertex indices (counter-clockwise = outward).
    """
    return corner_frames(gather_vertices(vertices, triangles))


def bind(
    vertices: torch.Tensor,
    triangles: torch.Tensor,
    *,
    triangle: torch.Tensor,
    bary: torch.Tensor,
    offset: torch.Tensor,
    local_quats: torch.Tensor,
    log_scales: torch.Tensor,
) -> WorldGaussians:
    """World means, rotations and scales of Gaussians bound to a posed mesh.

    Args:
        vertices: (..., V, 3) posed mesh. triangles: (T, 3).
        triangle: (N,) triangle of each Gaussian. bary: (N, 3) barycentric weights.
        offset: (N,) or (N, 1) distance along the triangle normal, in units of its mean edge length.
        local_quats: (N, 4) rotation in the triangle's frame (w first, any norm).
        log_scales: (N, 3) log of the scale relative to the triangle's mean edge length.
    """
    corners = gather_vertices(vertices, triangles[triangle])  # (..., N, 3, 3)
    frames = corner_frames(corners)
    normal = frames.rotation[..., 2]
    means = (bary[..., None] * corners).sum(-2) + (offset.reshape(-1) * frames.scale)[..., None] * normal
    quats = quaternion_multiply(matrix_to_quaternion(frames.rotation), local_quats)
    scales = frames.scale[..., None] * torch.exp(log_scales)
    return WorldGaussians(means, torch.nn.functional.normalize(quats, dim=-1), scales)
