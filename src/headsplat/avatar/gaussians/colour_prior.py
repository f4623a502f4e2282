"""A smoothness prior on the Gaussians' colours over the head mesh, so that parts of the head the
video never shows (the back of the head after a frontal clip) take the colours of their seen
surroundings instead of keeping their initial grey or drifting to saturated speckles.

Each step pulls every Gaussian's colour towards the mean colour of the Gaussians bound to its
triangle's neighbourhood (the triangles sharing a vertex with it), held fixed. Where the frames
supervise a Gaussian, the photometric loss outweighs the small pull; where they do not, repeated
steps spread the colours of the seen boundary inwards, like harmonic inpainting on the mesh
(the mesh-Laplacian colour diffusion used to fill unseen texture, e.g. in texture completion of
scanned meshes; FATE completes the head with a learned prior instead, which is a separate step).
"""

from __future__ import annotations

import torch


def neighbourhood_sums(
    values: torch.Tensor,
    triangle: torch.Tensor,
    triangles: torch.Tensor,
    n_vertices: int,
    *,
    around: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, C) sums of ``values`` (N, C) over the Gaussians bound near each Gaussian's triangle (or
    near ``around`` (N,), another triangle for each Gaussian: its mirror image, say).

    "Near" is the triangles sharing a vertex with it, weighted by the number of shared vertices
    (its own triangle three times): sums are pooled triangle -> vertices -> triangle with two
    scatter-adds and a gather, no sparse matrix.

    Args:
        triangle: (N,) binding triangles. triangles: (T, 3) vertex indices.
    """
    around = triangle if around is None else around
    return vertex_sums(values, triangle, triangles, n_vertices)[triangles[around]].sum(1)


def vertex_sums(
    values: torch.Tensor, triangle: torch.Tensor, triangles: torch.Tensor, n_vertices: int
) -> torch.Tensor:
    """(V, C) for each vertex, the sum of ``values`` (N, C) of the Gaussians bound to the
    triangles around it. triangle: (N,) binding triangles; triangles: (T, 3)."""
    per_triangle = torch.zeros(len(triangles), values.shape[1], device=values.device)
    per_triangle.index_add_(0, triangle, values)
    per_vertex = torch.zeros(n_vertices, values.shape[1], device=values.device)
    return per_vertex.index_add_(0, triangles.reshape(-1), per_triangle.repeat_interleave(3, dim=0))


def neighbourhood_colours(
    colours: torch.Tensor, triangle: torch.Tensor, triangles: torch.Tensor, n_vertices: int
):
    """(N, 3) mean colour of the Gaussians bound near each Gaussian's triangle (no gradient;
    "near" as in :func:`neighbourhood_sums`).

    Args:
        colours: (N, 3). triangle: (N,) binding triangles. triangles: (T, 3) vertex indices.
    """
    values = torch.cat([colours.detach(), torch.ones_like(colours[:, :1])], dim=1)
    pooled = neighbourhood_sums(values, triangle, triangles, n_vertices)
    return pooled[:, :3] / pooled[:, 3:]


def mirrored_neighbourhood_colours(
    colours: torch.Tensor,
    triangle: torch.Tensor,
    triangles: torch.Tensor,
    n_vertices: int,
    *,
    mirror_triangle: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3) mean colour of the Gaussians bound near each Gaussian's mirror triangle ("near" as
    in :func:`neighbourhood_sums`; no gradient), and (N,) bool: whether any Gaussian is bound
    there (else its colour is 0).

    Args:
        colours: (N, 3). triangle: (N,) binding triangles. triangles: (T, 3) vertex indices.
        mirror_triangle: (T,) long, each triangle's mirror image
            (:meth:`~headsplat.avatar.head_mesh.HeadMesh.mirror`).
    """
    values = torch.cat([colours.detach(), torch.ones_like(colours[:, :1])], dim=1)
    pooled = neighbourhood_sums(values, triangle, triangles, n_vertices, around=mirror_triangle[triangle])
    found = pooled[:, 3] > 0
    return pooled[:, :3] / pooled[:, 3:].clamp_min(1.0), found


def colour_smoothness(
    colours: torch.Tensor, triangle: torch.Tensor, triangles: torch.Tensor, n_vertices: int
) -> torch.Tensor:
    """Mean squared distance of each colour (N, 3) to its neighbourhood's mean colour."""
    target = neighbourhood_colours(colours, triangle, triangles, n_vertices)
    return (colours - target).pow(2).sum(-1).mean()
