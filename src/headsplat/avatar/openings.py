"""Where the head's skin opens onto what lies behind it: the seam between the lips, and the lids'
margins over the eyeballs.

ICT's mesh is closed at the mouth (the lips roll inwards into the mouth socket), so the seam is
not a mesh border. It is where points that are close together on the neutral face move apart
when the expressions act: an upper-lip and a lower-lip vertex 2 mm apart separate by a
centimetre with ``jawOpen``, a strain of 5, while skin stretches by well under 1. A Gaussian that
straddles such a seam on the training frames (lips mostly closed) paints the gap when the lips
part on a new expression. The lids' margins are simpler: the skin that touches the eyeballs;
lid Gaussians that spread over the eyeball paint the iris on the lids, where gaze cannot move it
(most of the rendering weight inside the eyes came from face Gaussians; measurements:
docs/quality.md, section "The seams and the interior").
:mod:`headsplat.avatar.gaussians.store` caps Gaussians' size by their distance to these seams so
that the lips part onto the mouth's interior and the eyes are painted on the eyeballs.

This is the geometric form of a problem EAvatar (deformation-aware splitting: Gaussians where
the expressions deform most are split) and STAvatar (mouth interiors) address by density.
"""

from __future__ import annotations

import torch
from torch import Tensor

TEAR_RADIUS = 0.5
"""cm: pairs of vertices closer than this on the neutral face are compared."""
TEAR_STRAIN = 4.0
"""A pair tears when one expression at weight 1 moves its vertices apart by this many times
their distance (the lips' pairs stretch far beyond it, skin stays below 1; measurements:
docs/quality.md, section "`avatar.openings.TEAR_STRAIN`")."""
LID_MARGIN = 0.1
"""cm: skin this close to an eyeball is the lids' margin (ICT: 225 vertices)."""


def tearing_vertices(
    vertices: Tensor,
    expression_basis: Tensor,
    surface: Tensor,
    *,
    radius: float = TEAR_RADIUS,
    min_strain: float = TEAR_STRAIN,
    chunk: int = 1024,
) -> Tensor:
    """(V,) bool: the ``surface`` vertices on a seam that opens.

    Args:
        vertices: (V, 3) the neutral mesh (cm). expression_basis: (E, V, 3) per-expression offsets.
        surface: (V,) bool, the vertices to consider (the visible skin).
        radius: (cm) and min_strain: the pairs compared and when they tear (see the module).
    """
    index = torch.nonzero(surface).flatten()
    points, motion = vertices[index], expression_basis[:, index]
    strain = torch.zeros(len(index), device=vertices.device)
    for start in range(0, len(index), chunk):
        distance = torch.cdist(points[start : start + chunk], points)
        i, j = torch.nonzero((distance < radius) & (distance > 0), as_tuple=True)
        separation = (motion[:, start + i] - motion[:, j]).norm(dim=-1).amax(0)
        strain.scatter_reduce_(0, start + i, separation / distance[i, j], "amax")
    tearing = torch.zeros_like(surface)
    tearing[index] = strain > min_strain
    return tearing


def touching_vertices(vertices: Tensor, surface: Tensor, other: Tensor, radius: float = LID_MARGIN) -> Tensor:
    """(V,) bool: the ``surface`` vertices within ``radius`` of an ``other`` vertex (both (V,) bool)
    of the mesh ``vertices`` (V, 3)."""
    touching = torch.zeros_like(surface)
    if other.any():
        index = torch.nonzero(surface).flatten()
        touching[index] = nearest_distance(vertices[index], vertices[other]) < radius
    return touching


def nearest_distance(points: Tensor, targets: Tensor, chunk: int = 4096) -> Tensor:
    """(P,) each of ``points`` (P, 3)'s distance to the nearest of ``targets`` (Q > 0, 3), in
    chunks of ``chunk`` points (the full P x Q matrix of ICT's triangles would take ~1 GB)."""
    return torch.cat([torch.cdist(c, targets).amin(-1) for c in points.split(chunk)])


def opening_distance(vertices: Tensor, triangles: Tensor, seam: Tensor) -> Tensor:
    """(T,) each triangle's centroid's distance to the nearest ``seam`` vertex (V,) bool of the
    mesh ``vertices`` (V, 3) with ``triangles`` (T, 3); +inf where there is none."""
    if not seam.any():
        return torch.full((len(triangles),), float("inf"), device=vertices.device)
    return nearest_distance(vertices[triangles].mean(-2), vertices[seam])


def triangle_components(triangles: Tensor, n_vertices: int) -> Tensor:
    """(T,) the connected part of the mesh ``triangles`` (T, 3) each triangle belongs to (its
    smallest vertex index; triangles sharing a vertex are connected)."""
    label = torch.arange(n_vertices, device=triangles.device)
    while True:  # each pass spreads the smallest label one ring further
        smallest = label[triangles].amin(1).repeat_interleave(3)
        spread = label.scatter_reduce(0, triangles.reshape(-1), smallest, "amin")
        if torch.equal(spread, label):
            return label[triangles[:, 0]]
        label = spread


def behind_seams(triangles: Tensor, candidates: Tensor, seam: Tensor) -> Tensor:
    """(T,) bool: the ``candidates`` (T,) bool triangles whose connected part (among the
    candidates) has a ``seam`` (V,) bool vertex: on ICT, the mouth's and the eyes' sockets, which
    the model files with the scalp and neck (``M_BackHead``) and which touch the skin only at the
    lips' seam and the lids' margins."""
    index = torch.nonzero(candidates).flatten()
    part = triangle_components(triangles[index], len(seam))
    seamed = torch.unique(part[seam[triangles[index]].any(1)])
    behind = torch.zeros_like(candidates)
    behind[index] = torch.isin(part, seamed)
    return behind
