"""Where sparse control puts its control vertices and how the rest of the mesh follows them
(EAvatar, Zhang et al., arXiv 2508.13537, §3.2, read as a mesh deformer:
:mod:`headsplat.avatar.deformers.sparse_control`). Pure functions of the head mesh's arrays.

EAvatar's controls are the Gaussians whose expression-induced displacement exceeds a threshold;
here they are the vertices the clip's expressions move furthest (:func:`expression_reach`) or, on
request, stretch most (:func:`expression_strain`), thinned to an even spacing
(:func:`farthest_point_controls`). A vertex follows its nearest controls by distance along the
mesh's edges (:func:`geodesic_neighbours`), so motion never jumps a gap the surface does not cross
(ICT's lips are 2 mm apart across the mouth), with inverse-square weights that fade to nothing at
a radius (:func:`following_weights`).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from torch import Tensor

from headsplat.geometry import mesh_edges

EPSILON = 0.01
"""cm added to a distance before its inverse square: a vertex at a control follows it alone."""


def expression_reach(basis: Tensor, expressions: Tensor, *, percentile: float = 95.0) -> Tensor:
    """(V,) cm: how far the clip's expressions move each vertex from where the clip's median
    expression puts it, ``|B (e_f - median e)|``, at the ``percentile`` over frames.

    Args:
        basis: (E, V, 3) the expression basis (cm per unit weight). expressions: (F, E).
    """
    expressions = expressions.to(basis)
    relative = expressions - expressions.median(dim=0).values
    flat = basis.reshape(len(basis), -1)
    distances = torch.cat(
        [(part @ flat).reshape(len(part), -1, 3).norm(dim=-1) for part in relative.split(64)]
    )
    return torch.quantile(distances, percentile / 100, dim=0)


def expression_strain(
    neutral: Tensor, basis: Tensor, triangles: Tensor, expressions: Tensor, *, percentile: float = 95.0
) -> Tensor:
    """(V,) how much the clip's expressions stretch or compress the mesh around each vertex: per
    frame, the largest relative change of an edge of its triangles' from its length at the clip's
    median expression, at the ``percentile`` over frames. A part the expressions only carry along
    (the chin on an opening jaw) has none; lips and lids have the most.

    Args:
        neutral: (V, 3). basis: (E, V, 3) cm per unit weight. triangles: (T, 3). expressions: (F, E).
    """
    expressions = expressions.to(basis)
    flat = basis.reshape(len(basis), -1)
    edges = mesh_edges(triangles)

    def lengths(weights: Tensor) -> Tensor:  # (F, edges) for (F, E) weights
        vertices = neutral + (weights @ flat).reshape(len(weights), -1, 3)
        return (vertices[:, edges[:, 0]] - vertices[:, edges[:, 1]]).norm(dim=-1)

    rest = lengths(expressions.median(dim=0).values[None])[0].clamp_min(1e-6)
    strains = []
    for part in expressions.split(16):
        per_edge = ((lengths(part) - rest).abs() / rest).to(neutral)
        per_vertex = torch.zeros(len(part), len(neutral), dtype=per_edge.dtype, device=per_edge.device)
        for end in (0, 1):
            index = edges[:, end].expand(len(part), -1)
            per_vertex = per_vertex.scatter_reduce(1, index, per_edge, reduce="amax")
        strains.append(per_vertex)
    return torch.quantile(torch.cat(strains), percentile / 100, dim=0)


def farthest_point_controls(
    positions: np.ndarray, reach: np.ndarray, candidates: np.ndarray, spacing: float
) -> np.ndarray:
    """(C,) vertex indices: deterministic farthest-point sampling of the ``candidates``.

    The first is the candidate that moves most (the first such index on a tie); each next is the
    candidate furthest from those chosen, until every candidate lies within ``spacing`` of one.

    Args:
        positions: (V, 3) cm. reach: (V,) :func:`expression_reach`. candidates: (V,) bool.
    """
    index = np.flatnonzero(candidates)
    if len(index) == 0:
        return index.astype(np.int64)
    points = positions[index].astype(np.float64)
    chosen = [int(np.argmax(reach[index]))]
    nearest = np.linalg.norm(points - points[chosen[0]], axis=1)
    while nearest.max() > spacing:
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return index[chosen].astype(np.int64)


def edge_graph(positions: np.ndarray, triangles: np.ndarray) -> csr_matrix:
    """(V, V) sparse, symmetric: the length of every edge of ``triangles`` (T, 3) between
    ``positions`` (V, 3); vertices on none of them are isolated."""
    edges = mesh_edges(torch.from_numpy(triangles)).numpy()
    lengths = np.linalg.norm(positions[edges[:, 0]] - positions[edges[:, 1]], axis=1)
    # A zero-length edge would read as no edge in a sparse matrix.
    lengths = np.maximum(lengths, 1e-9)
    n = len(positions)
    return csr_matrix((lengths, (edges[:, 0], edges[:, 1])), shape=(n, n))


def geodesic_neighbours(
    graph: csr_matrix, sources: np.ndarray, *, count: int, limit: float, chunk: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Each vertex's ``count`` nearest ``sources`` along the graph's edges within ``limit``.

    Returns:
        index (V, count) into ``sources`` (0 where fewer are in reach) and distance (V, count),
        nearest first (inf where fewer are in reach).
    """
    n = graph.shape[0]
    index = np.zeros((n, count), np.int64)
    distance = np.full((n, count), np.inf)
    for start in range(0, len(sources), chunk):
        found = dijkstra(graph, directed=False, indices=sources[start : start + chunk], limit=limit)
        ids = np.broadcast_to(np.arange(start, start + len(found))[:, None], found.shape)
        # Keep the nearest `count` of those kept so far and this chunk's.
        all_distance = np.concatenate([distance, found.T], axis=1)
        all_index = np.concatenate([index, ids.T], axis=1)
        order = np.argsort(all_distance, axis=1, kind="stable")[:, :count]
        distance = np.take_along_axis(all_distance, order, axis=1)
        index = np.take_along_axis(all_index, order, axis=1)
    index[np.isinf(distance)] = 0
    return index, distance


def falloff(distance: np.ndarray, *, plateau: float, radius: float) -> np.ndarray:
    """1 up to ``plateau``, 0 from ``radius`` on, a smoothstep between (C1 at both ends)."""
    t = np.clip((radius - distance) / max(radius - plateau, 1e-9), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def following_weights(distance: np.ndarray, *, plateau: float, radius: float) -> np.ndarray:
    """(V, K) how much each vertex takes of each of its controls' displacements.

    Inverse-square weights of the geodesic ``distance`` (V, K) (nearest first), each faded by
    :func:`falloff` and normalised, then scaled by the nearest control's falloff: a vertex within
    ``plateau`` of a control moves with its controls in full (the weights sum to 1), one beyond
    ``radius`` of all of them not at all, and the weights are continuous in between (normalising
    alone would give a vertex with one control in reach all of it up to the radius, then nothing).
    """
    faded = falloff(distance, plateau=plateau, radius=radius)
    shape = faded / (distance + EPSILON) ** 2
    total = shape.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = np.where(total > 0, shape / total, 0.0)
    return weights * faded[:, :1]


def control_pairs(positions: np.ndarray, controls: np.ndarray, distance: float) -> np.ndarray:
    """(P, 2) the pairs ``i < j`` of ``controls`` whose ``positions`` lie within ``distance``:
    the graph sparse control's smoothness term runs over."""
    points = positions[controls]
    gaps = np.linalg.norm(points[:, None] - points[None], axis=-1)
    i, j = np.nonzero(np.triu(gaps <= distance, k=1))
    return np.stack([i, j], axis=1).astype(np.int64)
