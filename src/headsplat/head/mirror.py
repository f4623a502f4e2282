"""The head model's left-right mirror (x -> -x in model axes): each triangle's, surface point's,
expression's and material's mirror image.

A face is nearly symmetric, and a monocular clip often shows one side better than the other; its
mirror is the best guess for what the clip did not show (FATE completes the unseen head from a 3D
GAN whose weights we cannot ship; a mirror needs nothing). ICT-FaceKit's template is symmetric to
floating-point precision, but its quads are split into triangles along diagonals that do not
mirror each other, so triangles are matched by their centres and points by the nearest mirrored
triangle (an involution on more than 99 % of ICT's triangles, tested). Everything here is a pure
function of the template; an avatar's head computes its maps once per head model
(:meth:`~headsplat.avatar.head_mesh.HeadMesh.mirror`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

REFLECTION = np.diag([-1.0, 1.0, 1.0])
"""x -> -x: model axes have x towards the subject's left."""
CANDIDATES = 8
"""Triangles, nearest by centre, searched for a mirrored point's closest one."""
_SIDE_SUFFIXES = {"_L": "_R", "_R": "_L"}
_SIDE_WORDS = re.compile("Left|Right|left|right")
_OTHER_SIDE = {"Left": "Right", "Right": "Left", "left": "right", "right": "left"}


def mirrored_name(name: str) -> str:
    """The name of ``name``'s mirror image: ``eyeBlink_L`` -> ``eyeBlink_R``, ``M_ScleraLeft`` ->
    ``M_ScleraRight``, ``jawLeft`` -> ``jawRight``, ``eyeball_left`` -> ``eyeball_right``; a name
    with no side is its own (``M_LacrimalFluid`` has none)."""
    if name[-2:] in _SIDE_SUFFIXES:
        return name[:-2] + _SIDE_SUFFIXES[name[-2:]]
    return _SIDE_WORDS.sub(lambda match: _OTHER_SIDE[match.group()], name)


def mirror_order(names: Sequence[str]) -> np.ndarray:
    """(N,) for each of ``names`` the index of its mirror image among them (its own when it has
    no side, or its mirror is not among them)."""
    index = {name: i for i, name in enumerate(names)}
    return np.array([index.get(mirrored_name(name), i) for i, name in enumerate(names)])


@dataclass(frozen=True)
class Mirror:
    """A template's mirror maps.

    Attributes:
        triangle: (T,) the triangle whose centre is nearest to each triangle's mirrored centre,
            among those of the mirrored material.
        material: (M,) each material's mirror (``M_ScleraLeft`` <-> ``M_ScleraRight``).
    """

    triangle: np.ndarray
    material: np.ndarray


def mirror_maps(
    vertices: np.ndarray, triangles: np.ndarray, triangle_material: np.ndarray, material_names: Sequence[str]
) -> Mirror:
    """The :class:`Mirror` of a template: ``vertices`` (V, 3), ``triangles`` (T, 3),
    ``triangle_material`` (T,) into ``material_names``."""
    material = mirror_order(material_names)
    centres = vertices[triangles].mean(1)
    mirrored = centres @ REFLECTION
    triangle = np.arange(len(triangles))
    for m in np.unique(triangle_material):
        source = np.flatnonzero(triangle_material == m)
        target = np.flatnonzero(triangle_material == material[m])
        if len(target) == 0:
            continue
        _, nearest = cKDTree(centres[target]).query(mirrored[source])
        triangle[source] = target[nearest]
    return Mirror(triangle, material)


def closest_on_triangles(points: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric coordinates (P, 3) of the points of triangles ``corners`` (P, 3, 3) closest to
    ``points`` (P, 3), and their distances (P,) (exact: the plane's projection when inside, else
    the closest point of the nearest edge)."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    best = np.full(len(points), np.inf)
    bary = np.zeros((len(points), 3))
    # Inside: solve for the plane's projection.
    e1, e2, d = b - a, c - a, points - a
    d11, d12, d22 = (e1 * e1).sum(1), (e1 * e2).sum(1), (e2 * e2).sum(1)
    p1, p2 = (d * e1).sum(1), (d * e2).sum(1)
    det = np.where(np.abs(d11 * d22 - d12 * d12) > 1e-20, d11 * d22 - d12 * d12, 1e-20)
    v, w = (d22 * p1 - d12 * p2) / det, (d11 * p2 - d12 * p1) / det
    inside = (v >= 0) & (w >= 0) & (v + w <= 1)
    candidate = np.stack([1 - v - w, v, w], 1)
    distance = np.linalg.norm((candidate[:, :, None] * corners).sum(1) - points, axis=1)
    bary[inside], best[inside] = candidate[inside], distance[inside]
    # Else: each edge's closest point.
    for i, j in ((0, 1), (1, 2), (2, 0)):
        start, edge = corners[:, i], corners[:, j] - corners[:, i]
        t = np.clip(((points - start) * edge).sum(1) / np.maximum((edge * edge).sum(1), 1e-20), 0, 1)
        distance = np.linalg.norm(start + t[:, None] * edge - points, axis=1)
        take = distance < best
        edge_bary = np.zeros((len(points), 3))
        edge_bary[:, i], edge_bary[:, j] = 1 - t, t
        bary[take], best[take] = edge_bary[take], distance[take]
    return bary, best


def mirror_points(
    vertices: np.ndarray,
    triangles: np.ndarray,
    mirror: Mirror,
    triangle_material: np.ndarray,
    *,
    triangle: np.ndarray,
    bary: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mirror images of surface points (``triangle`` (P,), ``bary`` (P, 3)) on a template
    (``vertices`` (V, 3), ``triangles`` (T, 3)): their triangles (P,), barycentric coordinates
    (P, 3) and how far (P,) the mirrored point lies from the surface there (model units).

    The closest point among the :data:`CANDIDATES` triangles of the mirrored material nearest the
    mirrored point by centre."""
    points = (bary[:, :, None] * vertices[triangles[triangle]]).sum(1) @ REFLECTION
    material = mirror.material[triangle_material[triangle]]
    centres = vertices[triangles].mean(1)
    _, near = cKDTree(centres).query(points, k=min(CANDIDATES, len(triangles)))
    near = near.reshape(len(points), -1)
    best_triangle = mirror.triangle[triangle].copy()
    best_bary, best = closest_on_triangles(points, vertices[triangles[best_triangle]])
    for k in range(near.shape[1]):
        candidate = near[:, k]
        found, distance = closest_on_triangles(points, vertices[triangles[candidate]])
        take = (distance < best) & (triangle_material[candidate] == material)
        best_triangle[take], best_bary[take], best[take] = candidate[take], found[take], distance[take]
    return best_triangle, best_bary, best
